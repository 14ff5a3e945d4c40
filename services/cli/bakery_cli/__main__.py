from bakery_cli.main import app

app(prog_name="bakery-admin")
