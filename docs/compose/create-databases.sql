-- Each service owns its own database; the tenant database is created by POSTGRES_DB.
CREATE DATABASE notification;
