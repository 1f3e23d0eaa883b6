from reasonkit.benchmarks.studies.false_equations import false_equations


def test_finds_the_false_steps_of_a_rationale() -> None:
    rationale = " 16 - 6 = 10. 10 * 2 = 20. 20 + 2 = 21. 3 - 5 = -2. So the answer is (D) 21."
    assert false_equations(rationale) == ["20 + 2 = 21"]
    assert false_equations("So the answer is (B) 4.") == []
