"""What a violation becomes: evidence packages, the record store, the reviewer app. Never imports vision/pipelines."""
