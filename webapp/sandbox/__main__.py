from webapp.sandbox.server import main

main()
