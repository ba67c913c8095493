/**
 * What /healthz and the start-up summary report: each part enabled, disabled (and why), or
 * failing (and why). Parts register a probe; the report runs them all.
 */
export type PartReport =
  | { status: 'ok'; detail?: string }
  | { status: 'disabled'; reason: string }
  | { status: 'failing'; error: string };

export type Probe = () => PartReport | Promise<PartReport>;

export interface HealthRegistry {
  register(part: string, probe: Probe): void;
  report(): Promise<{ ok: boolean; parts: Record<string, PartReport> }>;
}

export function createHealthRegistry(options: { probeTimeoutMs?: number } = {}): HealthRegistry {
  const probes = new Map<string, Probe>();
  const timeoutMs = options.probeTimeoutMs ?? 2000;
  return {
    register(part, probe) {
      probes.set(part, probe);
    },
    async report() {
      const entries = await Promise.all(
        [...probes].map(async ([part, probe]): Promise<[string, PartReport]> => {
          let timer: NodeJS.Timeout | undefined;
          try {
            const timeout = new Promise<PartReport>((resolve) => {
              timer = setTimeout(() => resolve({ status: 'failing', error: `no answer within ${timeoutMs} ms` }), timeoutMs);
            });
            return [part, await Promise.race([Promise.resolve(probe()), timeout])];
          } catch (error) {
            return [part, { status: 'failing', error: error instanceof Error ? error.message : String(error) }];
          } finally {
            clearTimeout(timer);
          }
        }),
      );
      const parts = Object.fromEntries(entries);
      return { ok: entries.every(([, report]) => report.status !== 'failing'), parts };
    },
  };
}
