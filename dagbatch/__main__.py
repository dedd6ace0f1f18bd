from dagbatch.cli.main import main

main()
