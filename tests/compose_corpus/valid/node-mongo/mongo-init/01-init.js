db = db.getSiblingDB("todos");
db.createCollection("items");
