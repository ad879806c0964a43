from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG("hello", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="start")
