-- Memory search's HNSW indexes link their graph with a wider candidate list: ef_construction 128
-- instead of pgvector's default 64 (src/memory/embedding-index.ts, HNSW_BUILD_OPTIONS, creates new
-- ones so). With the default, part of a clustered memory is all but unreachable: on the memory
-- bench's 1M-chunk corpus 6 % of chunks are not found even by their own vector and recall@10 is
-- 0.90 at the service's ef_search (100); rebuilt with 128, 0.97 (0.93 → 0.98 at 100k chunks), at
-- about twice the build time and the same size.
--
-- Every registered index takes the setting for what is inserted from now on. One of up to 100,000
-- vectors is also rebuilt here (well under a minute; writes to memory wait meanwhile). A larger
-- one keeps its graph until rebuilt by hand, without blocking writes:
--   SET maintenance_work_mem = '4GB';  -- about 4 kB a vector, so the graph is built in memory
--   REINDEX INDEX CONCURRENTLY <index_name from embedding_models>;
DO $$
DECLARE
  registered record;
  vectors bigint;
BEGIN
  -- The graph is built in memory when it fits (about 3 kB a 512-dimension vector); this
  -- transaction only.
  PERFORM set_config('maintenance_work_mem', '512MB', true);
  FOR registered IN
    SELECT model, index_name FROM embedding_models
    WHERE index_name ~ '^memory_embeddings_hnsw_[0-9a-f]{16}$' AND to_regclass(index_name) IS NOT NULL
  LOOP
    EXECUTE format('ALTER INDEX %I SET (m = 16, ef_construction = 128)', registered.index_name);
    SELECT count(*) INTO vectors FROM memory_embeddings WHERE model = registered.model;
    IF vectors <= 100000 THEN
      EXECUTE format('REINDEX INDEX %I', registered.index_name);
    ELSE
      RAISE NOTICE 'memory index % (% vectors) keeps its graph until REINDEX INDEX CONCURRENTLY %', registered.index_name, vectors, registered.index_name;
    END IF;
  END LOOP;
END $$;
