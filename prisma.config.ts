import { defineConfig } from 'prisma/config';

// Used by the Prisma CLI (generate; migrate on machines that have the schema engine).
// The service itself applies migrations with src/db/migrate.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/adjutant' },
});
