from kbmc.cli import main

main()
