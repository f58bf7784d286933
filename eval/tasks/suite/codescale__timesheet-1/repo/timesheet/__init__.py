"""Timesheets: daily hours, reports and invoices."""
