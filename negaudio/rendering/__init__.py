"""Plan rows -> files: the pure rendering of one shard, and the executors that run shards."""
