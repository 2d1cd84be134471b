"""Shared plumbing only: settings, database, outbox and jobs, realtime bus, clock, money, i18n, errors."""
