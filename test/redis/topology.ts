/**
 * Real Redis topologies for the tests, all on loopback ports: a 3-master Cluster (`redis-server
 * --cluster-enabled yes` + `redis-cli --cluster create`) and Sentinel (a master, a replica, three
 * `redis-server --sentinel`). Every process started here is killed by `close()`, and — should a test
 * crash before that — when the test process exits, so none is ever left behind.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { freePort, redisServerBinary } from './redis-server.js';

const run = promisify(execFile);

/** Absolute path of redis-cli, or undefined. */
export const redisCliBinary: string | undefined = (() => {
  const found = spawnSync('sh', ['-c', 'command -v redis-cli'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path !== '' ? path : undefined;
})();

/** True when the topology suites must be skipped; says why, once per file. */
export function skipWithoutTopologies(suite: string): boolean {
  if (redisServerBinary !== undefined && redisCliBinary !== undefined) return false;
  console.warn(`[${suite}] SKIPPED: redis-server and redis-cli must be on PATH (apt-get install redis-server) to run the Cluster and Sentinel tests.`);
  return true;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Distinct free loopback ports. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

interface RedisProcess {
  readonly port: number;
  readonly child: ChildProcess;
  kill(): Promise<void>;
}

async function startProcess(port: number, args: string[], ready: RegExp): Promise<RedisProcess> {
  if (redisServerBinary === undefined) throw new Error('redis-server is not installed');
  const child = spawn(redisServerBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server ${args.join(' ')} did not start: ${output.slice(-500)}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${String(code)}: ${output.slice(-500)}`));
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    port,
    child,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const common = (port: number, dir: string) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run(redisCliBinary!, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 60_000 });
  return stdout;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > giveUp) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A Redis node address. */
export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

export interface RedisClusterHandle {
  /** The three masters. */
  readonly nodes: NodeAddress[];
  /** A plain ioredis Cluster client for looking inside (closed by `close`). */
  client(): Cluster;
  /** The port of the master that owns `key`'s slot. */
  ownerOf(key: string): Promise<number>;
  /** Moves `slots` slots, keys included, from one master to another (`redis-cli --cluster reshard`). */
  reshard(fromPort: number, toPort: number, slots: number): Promise<void>;
  /** Kills one master with SIGKILL. */
  kill(port: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts three masters on loopback and joins them into one Cluster covering every slot. */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-cluster-'));
  const [p1, p2, p3, b1, b2, b3] = await freePorts(6);
  const ports = [p1!, p2!, p3!];
  const buses = [b1!, b2!, b3!];
  const processes: RedisProcess[] = [];
  const clients: Cluster[] = [];
  const close = async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(processes.map((proc) => proc.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [index, port] of ports.entries()) {
      processes.push(
        await startProcess(
          port,
          [
            ...common(port, dir),
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(buses[index]),
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '2000',
          ],
          /Ready to accept connections/,
        ),
      );
    }
    await cli(ports[0]!, '--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes');
    for (const port of ports) await until(`cluster_state:ok on ${port}`, async () => (await cli(port, 'cluster', 'info')).includes('cluster_state:ok'));
  } catch (error) {
    await close();
    throw error;
  }
  const nodeId = async (port: number) => (await cli(port, 'cluster', 'myid')).trim();
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    client() {
      const client = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    async ownerOf(key) {
      const slot = Number((await cli(ports[0]!, 'cluster', 'keyslot', key)).trim());
      const probe = new Redis(ports[0]!, '127.0.0.1');
      try {
        const slots = await probe.cluster('SLOTS');
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        if (range === undefined) throw new Error(`no owner for slot ${slot}`);
        return range[2]![1];
      } finally {
        probe.disconnect();
      }
    },
    async reshard(fromPort, toPort, slots) {
      const [from, to] = [await nodeId(fromPort), await nodeId(toPort)];
      await cli(
        fromPort,
        '--cluster',
        'reshard',
        `127.0.0.1:${fromPort}`,
        '--cluster-from',
        from,
        '--cluster-to',
        to,
        '--cluster-slots',
        String(slots),
        '--cluster-yes',
      );
    },
    async kill(port) {
      await processes.find((proc) => proc.port === port)?.kill();
    },
    close,
  };
}

export interface RedisSentinelHandle {
  /** The three sentinels. */
  readonly sentinels: NodeAddress[];
  /** The master group's name. */
  readonly name: string;
  /** The port of the current master, as the sentinels say. */
  masterPort(): Promise<number>;
  /** A plain client on a node, for looking inside (closed by `close`). */
  client(port: number): Redis;
  /** Kills the current master with SIGKILL (nothing saved, connections cut). */
  killMaster(): Promise<number>;
  close(): Promise<void>;
}

const MASTER_NAME = 'tokenbroker-test';

/** Starts a master, one replica and three sentinels, and waits until the sentinels know all of them. */
export async function startRedisSentinel(): Promise<RedisSentinelHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-sentinel-'));
  const [masterPort, replicaPort, ...sentinelPorts] = await freePorts(5);
  const nodes = new Map<number, RedisProcess>();
  const processes: RedisProcess[] = [];
  const clients: Redis[] = [];
  const close = async () => {
    for (const client of clients) client.disconnect();
    await Promise.all(processes.map((proc) => proc.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  const sentinelInfo = async (port: number) => {
    const lines = (await cli(port, 'sentinel', 'master', MASTER_NAME)).trim().split('\n');
    const info = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) info.set(lines[i]!, lines[i + 1]!);
    return info;
  };
  try {
    const fastSync = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];
    for (const [port, extra] of [
      [masterPort!, []],
      [replicaPort!, ['--replicaof', '127.0.0.1', String(masterPort)]],
    ] as const) {
      const proc = await startProcess(port, [...common(port, dir), ...fastSync, ...extra], /Ready to accept connections/);
      nodes.set(port, proc);
      processes.push(proc);
    }
    await until('the replica in sync', async () => (await cli(replicaPort!, 'info', 'replication')).includes('master_link_status:up'));
    for (const port of sentinelPorts) {
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      processes.push(await startProcess(port, [file, '--sentinel'], /Sentinel ID is|monitor master/));
    }
    for (const port of sentinelPorts) {
      await until(`sentinel ${port} to see the replica and the other sentinels`, async () => {
        const info = await sentinelInfo(port);
        return info.get('num-slaves') === '1' && info.get('num-other-sentinels') === '2';
      });
    }
  } catch (error) {
    await close();
    throw error;
  }
  const masterPortNow = async () => Number((await cli(sentinelPorts[0]!, 'sentinel', 'get-master-addr-by-name', MASTER_NAME)).trim().split('\n')[1]);
  return {
    sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
    name: MASTER_NAME,
    masterPort: masterPortNow,
    client(port) {
      const client = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 });
      client.on('error', () => {});
      clients.push(client);
      return client;
    },
    async killMaster() {
      const port = await masterPortNow();
      await nodes.get(port)?.kill();
      return port;
    },
    close,
  };
}
