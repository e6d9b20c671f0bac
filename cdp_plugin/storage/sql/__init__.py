"""Store concerns shared by the SQL backends; each backend supplies its SQL and conversions."""
