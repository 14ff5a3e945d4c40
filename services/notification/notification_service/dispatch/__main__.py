from notification_service.dispatch.worker import main

main()
