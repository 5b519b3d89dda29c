from antigravity_gateway.cli import main

main()
