from mais_node.cli import main

main()
