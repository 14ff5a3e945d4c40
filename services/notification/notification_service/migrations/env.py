from bakery_shared.migrations import run_env
from notification_service.models import metadata

run_env(metadata)
