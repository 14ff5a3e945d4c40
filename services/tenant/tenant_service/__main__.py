from tenant_service.app import main

main()
