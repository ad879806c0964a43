import os
import pika

connection = pika.BlockingConnection(pika.URLParameters(os.environ["AMQP_URL"]))
