CREATE USER orders WITH PASSWORD 'orders-local';
CREATE DATABASE orders OWNER orders;
CREATE USER billing WITH PASSWORD 'billing-local';
CREATE DATABASE billing OWNER billing;
