"""Evidence and store settings, embedded in the site config (pipelines.config.SiteConfig)."""

from pydantic import BaseModel, ConfigDict


class EvidenceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
