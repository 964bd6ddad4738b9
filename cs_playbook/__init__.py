"""cs-playbook: analytics for customer-success teams at B2B SaaS companies."""

__version__ = "0.1.0"
