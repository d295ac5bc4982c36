from gwapbench.cli import main

main()
