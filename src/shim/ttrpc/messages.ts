/**
 * The protobuf messages the shim speaks with containerd, declared here from containerd's field numbers (no
 * .proto file is copied, nothing is generated): ttrpc's Request/Response, the shim task API
 * (containerd.task.v2, runtime/v2/task/shim_messages.proto in containerd 1.6), the task events
 * (containerd.events), the events service's ForwardRequest/Envelope, CRI's runtimeoptions.v1.Options and the
 * cgroups v1 Metrics that Stats answers. A small table-driven codec (codec.ts) encodes and decodes them; the
 * unit tests check it against @bufbuild/protobuf on the same table.
 *
 * All messages live in one private package: on the wire only field numbers and types count; the names
 * containerd knows them by are the type URLs of the Anys we send ({@link TYPE_URLS}).
 */
import { Codec, type FieldSpec } from './codec.ts';

/** Every message: name → fields. */
export const MESSAGE_FIELDS = {
  // google.protobuf well-known types, as they are on the wire.
  Any: [['type_url', 1, 'string'], ['value', 2, 'bytes']],
  Timestamp: [['seconds', 1, 'int64'], ['nanos', 2, 'int32']],
  Empty: [],
  // google.rpc.Status (ttrpc answers errors with it).
  Status: [['code', 1, 'int32'], ['message', 2, 'string'], ['details', 3, '.Any', 'repeated']],
  // ttrpc (github.com/containerd/ttrpc request.proto).
  KeyValue: [['key', 1, 'string'], ['value', 2, 'string']],
  Request: [['service', 1, 'string'], ['method', 2, 'string'], ['payload', 3, 'bytes'], ['timeout_nano', 4, 'int64'], ['metadata', 5, '.KeyValue', 'repeated']],
  Response: [['status', 1, '.Status'], ['payload', 2, 'bytes']],
  // containerd.types.Mount, containerd.v1.types.ProcessInfo.
  Mount: [['type', 1, 'string'], ['source', 2, 'string'], ['target', 3, 'string'], ['options', 4, 'string', 'repeated']],
  ProcessInfo: [['pid', 1, 'uint32'], ['info', 2, '.Any']],
  // containerd.runc.v1.ProcessDetails (the info of an exec's ProcessInfo).
  ProcessDetails: [['exec_id', 1, 'string']],
  // containerd.task.v2.
  CreateTaskRequest: [
    ['id', 1, 'string'], ['bundle', 2, 'string'], ['rootfs', 3, '.Mount', 'repeated'], ['terminal', 4, 'bool'],
    ['stdin', 5, 'string'], ['stdout', 6, 'string'], ['stderr', 7, 'string'], ['checkpoint', 8, 'string'],
    ['parent_checkpoint', 9, 'string'], ['options', 10, '.Any'],
  ],
  CreateTaskResponse: [['pid', 1, 'uint32']],
  DeleteRequest: [['id', 1, 'string'], ['exec_id', 2, 'string']],
  DeleteResponse: [['pid', 1, 'uint32'], ['exit_status', 2, 'uint32'], ['exited_at', 3, '.Timestamp']],
  ExecProcessRequest: [
    ['id', 1, 'string'], ['exec_id', 2, 'string'], ['terminal', 3, 'bool'], ['stdin', 4, 'string'],
    ['stdout', 5, 'string'], ['stderr', 6, 'string'], ['spec', 7, '.Any'],
  ],
  ResizePtyRequest: [['id', 1, 'string'], ['exec_id', 2, 'string'], ['width', 3, 'uint32'], ['height', 4, 'uint32']],
  StateRequest: [['id', 1, 'string'], ['exec_id', 2, 'string']],
  StateResponse: [
    ['id', 1, 'string'], ['bundle', 2, 'string'], ['pid', 3, 'uint32'], ['status', 4, 'uint32'], ['stdin', 5, 'string'],
    ['stdout', 6, 'string'], ['stderr', 7, 'string'], ['terminal', 8, 'bool'], ['exit_status', 9, 'uint32'],
    ['exited_at', 10, '.Timestamp'], ['exec_id', 11, 'string'],
  ],
  KillRequest: [['id', 1, 'string'], ['exec_id', 2, 'string'], ['signal', 3, 'uint32'], ['all', 4, 'bool']],
  CloseIORequest: [['id', 1, 'string'], ['exec_id', 2, 'string'], ['stdin', 3, 'bool']],
  PidsRequest: [['id', 1, 'string']],
  PidsResponse: [['processes', 1, '.ProcessInfo', 'repeated']],
  CheckpointTaskRequest: [['id', 1, 'string'], ['path', 2, 'string'], ['options', 3, '.Any']],
  UpdateTaskRequest: [['id', 1, 'string'], ['resources', 2, '.Any'], ['annotations', 3, '.KeyValue', 'repeated']],
  StartRequest: [['id', 1, 'string'], ['exec_id', 2, 'string']],
  StartResponse: [['pid', 1, 'uint32']],
  WaitRequest: [['id', 1, 'string'], ['exec_id', 2, 'string']],
  WaitResponse: [['exit_status', 1, 'uint32'], ['exited_at', 2, '.Timestamp']],
  StatsRequest: [['id', 1, 'string']],
  StatsResponse: [['stats', 1, '.Any']],
  ConnectRequest: [['id', 1, 'string']],
  ConnectResponse: [['shim_pid', 1, 'uint32'], ['task_pid', 2, 'uint32'], ['version', 3, 'string']],
  ShutdownRequest: [['id', 1, 'string'], ['now', 2, 'bool']],
  PauseRequest: [['id', 1, 'string']],
  ResumeRequest: [['id', 1, 'string']],
  // containerd.events (api/events/task.proto).
  TaskIO: [['stdin', 1, 'string'], ['stdout', 2, 'string'], ['stderr', 3, 'string'], ['terminal', 4, 'bool']],
  TaskCreate: [['container_id', 1, 'string'], ['bundle', 2, 'string'], ['rootfs', 3, '.Mount', 'repeated'], ['io', 4, '.TaskIO'], ['checkpoint', 5, 'string'], ['pid', 6, 'uint32']],
  TaskStart: [['container_id', 1, 'string'], ['pid', 2, 'uint32']],
  TaskDelete: [['container_id', 1, 'string'], ['pid', 2, 'uint32'], ['exit_status', 3, 'uint32'], ['exited_at', 4, '.Timestamp'], ['id', 5, 'string']],
  TaskExit: [['container_id', 1, 'string'], ['id', 2, 'string'], ['pid', 3, 'uint32'], ['exit_status', 4, 'uint32'], ['exited_at', 5, '.Timestamp']],
  TaskOOM: [['container_id', 1, 'string']],
  TaskExecAdded: [['container_id', 1, 'string'], ['exec_id', 2, 'string']],
  TaskExecStarted: [['container_id', 1, 'string'], ['exec_id', 2, 'string'], ['pid', 3, 'uint32']],
  TaskPaused: [['container_id', 1, 'string']],
  TaskResumed: [['container_id', 1, 'string']],
  // containerd.services.events.ttrpc.v1 (the events service containerd serves on its ttrpc socket).
  Envelope: [['timestamp', 1, '.Timestamp'], ['namespace', 2, 'string'], ['topic', 3, 'string'], ['event', 4, '.Any']],
  ForwardRequest: [['envelope', 1, '.Envelope']],
  // runtimeoptions.v1.Options (CRI's options of a runtime_type it does not know).
  RuntimeOptions: [['type_url', 1, 'string'], ['config_path', 2, 'string']],
  // io.containerd.cgroups.v1.Metrics (containerd/cgroups stats/v1/metrics.proto): the parts read here.
  Metrics: [['pids', 2, '.PidsStat'], ['cpu', 3, '.CPUStat'], ['memory', 4, '.MemoryStat'], ['memory_oom_control', 9, '.MemoryOomControl']],
  PidsStat: [['current', 1, 'uint64'], ['limit', 2, 'uint64']],
  CPUStat: [['usage', 1, '.CPUUsage'], ['throttling', 2, '.Throttle']],
  CPUUsage: [['total', 1, 'uint64'], ['kernel', 2, 'uint64'], ['user', 3, 'uint64'], ['per_cpu', 4, 'uint64', 'repeated']],
  Throttle: [['periods', 1, 'uint64'], ['throttled_periods', 2, 'uint64'], ['throttled_time', 3, 'uint64']],
  MemoryStat: [
    ['cache', 1, 'uint64'], ['rss', 2, 'uint64'], ['rss_huge', 3, 'uint64'], ['mapped_file', 4, 'uint64'],
    ['dirty', 5, 'uint64'], ['writeback', 6, 'uint64'], ['pg_pg_in', 7, 'uint64'], ['pg_pg_out', 8, 'uint64'],
    ['pg_fault', 9, 'uint64'], ['pg_maj_fault', 10, 'uint64'], ['inactive_anon', 11, 'uint64'], ['active_anon', 12, 'uint64'],
    ['inactive_file', 13, 'uint64'], ['active_file', 14, 'uint64'], ['unevictable', 15, 'uint64'],
    ['hierarchical_memory_limit', 16, 'uint64'], ['hierarchical_swap_limit', 17, 'uint64'],
    ['usage', 33, '.MemoryEntry'], ['swap', 34, '.MemoryEntry'], ['kernel', 35, '.MemoryEntry'], ['kernel_tcp', 36, '.MemoryEntry'],
  ],
  MemoryEntry: [['limit', 1, 'uint64'], ['usage', 2, 'uint64'], ['max', 3, 'uint64'], ['failcnt', 4, 'uint64']],
  MemoryOomControl: [['oom_kill_disable', 1, 'uint64'], ['under_oom', 2, 'uint64'], ['oom_kill', 3, 'uint64']],
} as const satisfies Record<string, readonly FieldSpec[]>;

/** A message name. */
export type MessageName = keyof typeof MESSAGE_FIELDS;

/** The type URLs containerd knows these messages by (typeurl: the protobuf full name, no prefix). */
export const TYPE_URLS = {
  TaskCreate: 'containerd.events.TaskCreate',
  TaskStart: 'containerd.events.TaskStart',
  TaskDelete: 'containerd.events.TaskDelete',
  TaskExit: 'containerd.events.TaskExit',
  TaskOOM: 'containerd.events.TaskOOM',
  TaskExecAdded: 'containerd.events.TaskExecAdded',
  TaskExecStarted: 'containerd.events.TaskExecStarted',
  TaskPaused: 'containerd.events.TaskPaused',
  TaskResumed: 'containerd.events.TaskResumed',
  RuntimeOptions: 'runtimeoptions.v1.Options',
  Metrics: 'io.containerd.cgroups.v1.Metrics',
  ProcessDetails: 'containerd.runc.v1.ProcessDetails',
} as const;

/** A protobuf Any. */
export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

/** A protobuf Timestamp. */
export interface TimestampMessage {
  seconds: bigint;
  nanos: number;
}

let codec: Codec | undefined;

/** Encodes a message given as a plain object with camelCase field names (absent fields take their defaults). */
export function encodeMessage(name: MessageName, value: Record<string, unknown>): Uint8Array {
  codec ??= new Codec(MESSAGE_FIELDS);
  return codec.encode(name, value);
}

/** Decodes a message into a plain object; throws on bytes that are no such message. Unknown fields are dropped. */
export function decodeMessage<T = Record<string, unknown>>(name: MessageName, bytes: Uint8Array): T {
  codec ??= new Codec(MESSAGE_FIELDS);
  return codec.decode<T>(name, bytes);
}

/** A Timestamp of `date` (milliseconds precision). */
export function timestampOf(date: Date): TimestampMessage {
  const ms = date.getTime();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** An Any holding `name` encoded, under its containerd type URL. */
export function anyOf(name: keyof typeof TYPE_URLS, value: Record<string, unknown>): AnyMessage {
  return { typeUrl: TYPE_URLS[name], value: encodeMessage(name === 'RuntimeOptions' ? 'RuntimeOptions' : name, value) };
}
