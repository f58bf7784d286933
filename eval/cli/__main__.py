from codescale.eval.cli.main import main

main()
