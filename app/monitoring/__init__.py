"""Operations: the Prometheus scrape endpoint and the numbers it reads from the database."""
