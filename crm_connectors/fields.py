"""Kept so crm_connectors' migrations keep importing the field from here; it lives in salesai.core.fields."""

from salesai.core.fields import EncryptedJSONField

__all__ = ["EncryptedJSONField"]
