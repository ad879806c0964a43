#!/usr/bin/env bash
set -eo pipefail
case "$1" in
  worker) exec celery --app=superset.tasks.celery_app:app worker ;;
  app-gunicorn) exec /usr/bin/run-server.sh ;;
esac
