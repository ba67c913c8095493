-- The built-in embedder now makes every run of whitespace one space before its tokenizer sees the
-- text (a newline had become an unknown token and cost the next word its word-start mark). Vectors
-- it made before are embedded again by the background job; each is replaced in place, so search by
-- meaning keeps working meanwhile.
UPDATE "memory_chunks" SET "needs_embedding" = true
WHERE "id" IN (SELECT "chunk_id" FROM "memory_embeddings" WHERE "model" = 'builtin:use-lite');
