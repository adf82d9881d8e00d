package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// instrument is one entry of /samples/transformers-otlp.json: the instruments
// transformers' continuous-batching processor records, with a value to record.
type instrument struct {
	Kind  string  `json:"kind"`
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// pushOTLP records every instrument once per interval and exports over OTLP/HTTP protobuf to
// the endpoint and resource the standard OTEL_* variables of the pod give (the SDK reads
// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME).
// Histograms are recorded inside a sampled span, so each carries an exemplar with its trace id.
func pushOTLP(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join(samplesDir, "transformers-otlp.json"))
	if err != nil {
		return err
	}
	var spec struct {
		Meter       string       `json:"meter"`
		Instruments []instrument `json:"instruments"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	res, err := resource.New(ctx, resource.WithFromEnv())
	if err != nil {
		return err
	}
	exp, err := otlpmetrichttp.New(ctx)
	if err != nil {
		return err
	}
	// As the OpenTelemetry SDKs do (transformers serve runs Python's): OTEL_METRIC_EXPORT_INTERVAL in
	// milliseconds, 60 s when unset, so a pod without the variable pushes as rarely as the real engine.
	interval := 60 * time.Second
	if v, err := strconv.Atoi(os.Getenv("OTEL_METRIC_EXPORT_INTERVAL")); err == nil && v > 0 {
		interval = time.Duration(v) * time.Millisecond
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval))))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithResource(res))
	meter := mp.Meter(spec.Meter)
	tracer := tp.Tracer(spec.Meter)
	record := []func(context.Context){}
	for _, in := range spec.Instruments {
		in := in
		switch in.Kind {
		case "histogram":
			h, err := meter.Float64Histogram(in.Name, metric.WithUnit(in.Unit))
			if err != nil {
				return err
			}
			record = append(record, func(ctx context.Context) {
				ctx, span := tracer.Start(ctx, "generate")
				h.Record(ctx, in.Value)
				span.End()
			})
		case "counter":
			c, err := meter.Float64Counter(in.Name, metric.WithUnit(in.Unit))
			if err != nil {
				return err
			}
			record = append(record, func(ctx context.Context) { c.Add(ctx, in.Value) })
		case "gauge":
			g, err := meter.Float64Gauge(in.Name, metric.WithUnit(in.Unit))
			if err != nil {
				return err
			}
			record = append(record, func(ctx context.Context) { g.Record(ctx, in.Value) })
		default:
			return fmt.Errorf("unknown instrument kind %q", in.Kind)
		}
	}
	for {
		for _, r := range record {
			r(ctx)
		}
		time.Sleep(interval)
	}
}
