# gunicorn reads ./gunicorn.conf.py by default (make serve, make demo and the Docker image run from here).
# Access log lines go through salesai.log_redaction: webhook URL secrets and tokens never reach them.
logger_class = "salesai.gunicorn_logging.RedactingLogger"
