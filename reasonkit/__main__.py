from reasonkit.cli import main

main()
