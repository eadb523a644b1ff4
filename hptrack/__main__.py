from hptrack.cli import main

main()
