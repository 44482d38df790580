/**
 * Prometheus remote_write 1.0 `WriteRequest`, the subset OWL sends, defined in code for
 * protobufjs (field numbers from prometheus/prompb/remote.proto and types.proto; metadata,
 * exemplars and histograms are never sent).
 */
import protobuf from 'protobufjs';

const root = protobuf.Root.fromJSON({
  nested: {
    prometheus: {
      nested: {
        WriteRequest: {
          fields: { timeseries: { rule: 'repeated', type: 'TimeSeries', id: 1 } },
          reserved: [[2, 2]],
        },
        TimeSeries: {
          fields: {
            labels: { rule: 'repeated', type: 'Label', id: 1 },
            samples: { rule: 'repeated', type: 'Sample', id: 2 },
          },
        },
        Label: {
          fields: { name: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
        },
        Sample: {
          fields: { value: { type: 'double', id: 1 }, timestamp: { type: 'int64', id: 2 } },
        },
      },
    },
  },
});

export const WriteRequest = root.lookupType('prometheus.WriteRequest');
export const TimeSeries = root.lookupType('prometheus.TimeSeries');

export interface WireTimeSeries {
  labels: { name: string; value: string }[];
  /** `timestamp` in ms, ascending within a series. */
  samples: { value: number; timestamp: number }[];
}
