from edgeagent_cli.app import main

main()
