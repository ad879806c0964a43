-- Run once, when the database is created (db/entrypoint.sh, first start on an empty volume),
-- as the app's role in the app's database. Later changes go to the migrate service.
CREATE TABLE notes (
    id         bigserial PRIMARY KEY,
    title      text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO notes (title, body) VALUES
    ('Welcome', 'This note was written by db/init.sql when the database was created.');
