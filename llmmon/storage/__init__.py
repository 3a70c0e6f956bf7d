"""Storage: tables, engine factory, migrations and the query functions every other unit uses."""
