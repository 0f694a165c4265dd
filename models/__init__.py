"""Model registry: manifests, fetching/exporting weights, runtime sessions. Imports nothing of ours."""
