"""Payments: fee assessment, bills, online payment, reconciliation and refunds."""
