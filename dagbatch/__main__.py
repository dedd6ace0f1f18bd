from dagbatch.cli import main

main()
