from bakery_shared.migrations import run_env
from tenant_service.models import metadata

run_env(metadata)
