from gitmodel.cli.main import main

main()
