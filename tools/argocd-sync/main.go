// argocd-sync runs Argo CD's own sync code (gitops-engine v3.6.1, the module Argo CD v3.6.1 syncs with) over
// manifest files against a cluster, with the options Argo CD's application controller passes for an
// Application's syncOptions, and emulates its cascade deletion of an Application with the controller's own rules.
// test/cluster/argocd-sync.test.ts runs it against a real kube-apiserver; tools/build-argocd-sync.sh builds it.
//
//	argocd-sync sync   --kubeconfig K --app NAME --dest-namespace NS [--sync-option OPT]... FILE...
//	argocd-sync delete --kubeconfig K --app NAME [--sync-option OPT]...
//
// Both print one JSON object on stdout. What is Argo CD's code and what is copied from it (unexported functions of
// github.com/argoproj/argo-cd/v3/controller, which cannot be imported) is said at each place, with file:line in v3.6.1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/cache"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/diff"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/common"
	resourceutil "github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/resource"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/sync/syncwaves"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/kube"
	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/utils/tracing"
)

// Argo CD's annotation tracking (the default method in v3): util/argo/resource_tracking.go:233 BuildAppInstanceValue,
// `<application-name>:<group>/<kind>:<namespace>/<name>` in this annotation (common/common.go:215 AnnotationKeyAppInstance).
const trackingAnnotation = "argocd.argoproj.io/tracking-id"

// The field manager Argo CD applies with (common/common.go:128 ArgoCDSSAManager).
const ssaManager = "argocd-controller"

type syncOptions []string

func (s *syncOptions) String() string     { return strings.Join(*s, ",") }
func (s *syncOptions) Set(v string) error { *s = append(*s, v); return nil }
func (s syncOptions) has(opt string) bool {
	for _, o := range s {
		if o == opt {
			return true
		}
	}
	return false
}

// value of `Key=value` among the options, like SyncOptions.GetOptionValue (pkg/apis/application/v1alpha1/types.go).
func (s syncOptions) value(key string) *string {
	for _, o := range s {
		if k, v, ok := strings.Cut(o, "="); ok && k == key {
			return &v
		}
	}
	return nil
}

type resourceResult struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	SyncPhase string `json:"syncPhase"`
	Order     int    `json:"order"`
}

type syncOutput struct {
	Phase     string           `json:"phase"`
	Message   string           `json:"message"`
	Resources []resourceResult `json:"resources"`
}

type deleteOutput struct {
	Deleted []string `json:"deleted"`
	Kept    []string `json:"kept"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "argocd-sync:", err)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "sync" && os.Args[1] != "delete") {
		fail(fmt.Errorf("usage: argocd-sync sync|delete --kubeconfig K --app NAME [--dest-namespace NS] [--sync-option OPT]... [FILE...]"))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the destination cluster")
	app := fs.String("app", "", "the Application's name (tracking)")
	destNs := fs.String("dest-namespace", "", "spec.destination.namespace")
	timeout := fs.Duration("timeout", 120*time.Second, "how long the operation may take")
	managedNsLabels := fs.String("managed-namespace-labels", "", "spec.syncPolicy.managedNamespaceMetadata.labels as k=v,k=v (set: managedNamespaceMetadata present)")
	var opts syncOptions
	fs.Var(&opts, "sync-option", "an entry of spec.syncPolicy.syncOptions (repeatable)")
	_ = fs.Parse(os.Args[2:])
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	log := logr.Discard()
	clusterCache := cache.NewClusterCache(config, cache.SetLogr(log),
		cache.SetPopulateResourceInfoHandler(func(un *unstructured.Unstructured, _ bool) (any, bool) {
			// Like the application controller's cache (controller/cache/info.go): the owning app from the tracking id.
			id := un.GetAnnotations()[trackingAnnotation]
			appName, _, _ := strings.Cut(id, ":")
			return appName, id != ""
		}))
	if err := clusterCache.EnsureSynced(); err != nil {
		fail(err)
	}
	isManaged := func(r *cache.Resource) bool { return r.Info == *app }
	var out any
	switch os.Args[1] {
	case "sync":
		out = runSync(ctx, config, clusterCache, *app, *destNs, opts, *managedNsLabels, isManaged, fs.Args(), log)
	case "delete":
		out = runDelete(ctx, config, clusterCache, *app, opts, isManaged, log)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func readManifests(files []string) []*unstructured.Unstructured {
	var res []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fail(err)
		}
		items, err := kube.SplitYAML(data)
		if err != nil {
			fail(fmt.Errorf("%s: %w", f, err))
		}
		res = append(res, items...)
	}
	return res
}

func runSync(ctx context.Context, config *rest.Config, clusterCache cache.ClusterCache, app, destNs string, opts syncOptions, managedNsLabels string, isManaged func(r *cache.Resource) bool, files []string, log logr.Logger) syncOutput {
	targets := readManifests(files)
	for _, t := range targets {
		ns := t.GetNamespace()
		if ns == "" {
			if namespaced, err := clusterCache.IsNamespaced(t.GroupVersionKind().GroupKind()); err == nil && namespaced {
				ns = destNs
			}
		}
		a := t.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[trackingAnnotation] = fmt.Sprintf("%s:%s/%s:%s/%s", app, t.GroupVersionKind().Group, t.GetKind(), ns, t.GetName())
		t.SetAnnotations(a)
	}
	kubectl := &kube.KubectlCmd{Log: log, Tracer: tracing.NopTracer{}}
	// As Argo CD's application controller runs an operation (controller/sync.go:160-493, SyncAppState): at each
	// reconciliation the live state from the cluster cache, a new sync context carrying the operation's state so far
	// (WithInitialState), and one Sync step; until the operation completes.
	var phase common.OperationPhase
	var message string
	var results []common.ResourceSyncResult
	startedAt := metav1.Now()
	for {
		managed, err := clusterCache.GetManagedLiveObjs(targets, isManaged)
		if err != nil {
			fail(err)
		}
		result := sync.Reconcile(targets, managed, destNs, clusterCache)
		diffRes, err := diff.DiffArray(ctx, result.Target, result.Live, diff.WithLogr(log))
		if err != nil {
			fail(err)
		}
		// The options the application controller passes (controller/sync.go:381-417) for these syncOptions.
		syncOpts := []sync.SyncOpt{
			sync.WithLogr(log),
			sync.WithOperationSettings(false, true, false, false),
			sync.WithInitialState(phase, message, results, startedAt),
			sync.WithManifestValidation(!opts.has(common.SyncOptionsDisableValidation)),
			sync.WithPruneLast(opts.has(common.SyncOptionPruneLast)),
			sync.WithResourceModificationChecker(opts.has(common.SyncOptionApplyOutOfSyncOnly), diffRes),
			sync.WithReplace(opts.has(common.SyncOptionReplace)),
			sync.WithServerSideApply(opts.has(common.SyncOptionServerSideApply)),
			sync.WithServerSideApplyManager(ssaManager),
			sync.WithDefaultPruneOption(opts.value(common.SyncOptionPrune)),
			sync.WithSkipDryRunOnMissingResource(opts.has(common.SyncOptionSkipDryRunOnMissingResource)),
		}
		// controller/sync.go:415-417: with CreateNamespace=true the namespace modifier decides what to do with it.
		if opts.has("CreateNamespace=true") {
			syncOpts = append(syncOpts, sync.WithNamespaceModifier(syncNamespace(managedNsLabels)))
		}
		syncCtx, cleanup, err := sync.NewSyncContext("HEAD", result, config, config, kubectl, destNs, syncOpts...)
		if err != nil {
			fail(err)
		}
		syncCtx.Sync(ctx)
		phase, message, results = syncCtx.GetState()
		cleanup()
		if phase.Completed() || ctx.Err() != nil {
			out := syncOutput{Phase: string(phase), Message: message}
			if ctx.Err() != nil && !phase.Completed() {
				out.Message = "timed out: " + message
			}
			for _, r := range results {
				out.Resources = append(out.Resources, resourceResult{Group: r.ResourceKey.Group, Kind: r.ResourceKey.Kind, Namespace: r.ResourceKey.Namespace, Name: r.ResourceKey.Name,
					Status: string(r.Status), Message: r.Message, SyncPhase: string(r.SyncPhase), Order: r.Order})
			}
			sort.SliceStable(out.Resources, func(i, j int) bool { return out.Resources[i].Order < out.Resources[j].Order })
			return out
		}
		time.Sleep(time.Second)
	}
}

// syncNamespace: controller/sync_namespace.go:14-45 of Argo CD v3.6.1 (unexported), verbatim but for the
// managedNamespaceMetadata argument. The namespace it creates gets no tracking id (lines 38-42 are commented out:
// argoproj/argo-cd#11196), so it is never one of the Application's resources: not pruned, not deleted on cascade.
func syncNamespace(managedNsLabels string) func(m *unstructured.Unstructured, l *unstructured.Unstructured) (bool, error) {
	return func(managedNs, liveNs *unstructured.Unstructured) (bool, error) {
		if managedNs == nil {
			return false, nil
		}
		isNewNamespace := liveNs == nil
		isManagedNamespace := managedNsLabels != ""
		if !isManagedNamespace && !isNewNamespace {
			return false, nil
		}
		if isManagedNamespace {
			labels := map[string]string{}
			for _, kv := range strings.Split(managedNsLabels, ",") {
				k, v, _ := strings.Cut(kv, "=")
				labels[k] = v
			}
			managedNs.SetLabels(labels)
			managedNs.SetAnnotations(map[string]string{common.AnnotationSyncOptions: common.SyncOptionServerSideApply})
		}
		return true, nil
	}
}

// shouldBeDeleted: controller/appcontroller.go:1321-1330 of Argo CD v3.6.1 (unexported), verbatim but for the
// self-referencing Application check (no Application manages itself here).
func shouldBeDeleted(opts syncOptions, obj *unstructured.Unstructured) bool {
	deleteOption := resourceutil.GetAnnotationOptionValue(obj, common.AnnotationSyncOptions, common.SyncOptionDelete)
	if deleteOption == nil {
		deleteOption = opts.value(common.SyncOptionDelete)
	}
	return !kube.IsCRD(obj) &&
		(deleteOption == nil || *deleteOption != common.SyncValueFalse) &&
		!resourceutil.HasAnnotationOption(obj, "helm.sh/resource-policy", "keep")
}

// filterObjectsForDeletion: controller/sort_delete.go:24-40 (the highest sync wave first).
func filterObjectsForDeletion(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	if len(objs) <= 1 {
		return objs
	}
	sort.SliceStable(objs, func(i, j int) bool { return syncwaves.Wave(objs[i]) > syncwaves.Wave(objs[j]) })
	wave := syncwaves.Wave(objs[0])
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if syncwaves.Wave(o) != wave {
			break
		}
		out = append(out, o)
	}
	return out
}

func key(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s/%s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
}

// runDelete: the cascade branch of finalizeApplicationDeletion (controller/appcontroller.go:1419-1478), with the
// resources-finalizer.argocd.argoproj.io finalizer's foreground propagation; repeated as the controller's
// reconciliations repeat it, until nothing it should delete is left.
func runDelete(ctx context.Context, config *rest.Config, clusterCache cache.ClusterCache, app string, opts syncOptions, isManaged func(r *cache.Resource) bool, log logr.Logger) deleteOutput {
	kubectl := &kube.KubectlCmd{Log: log, Tracer: tracing.NopTracer{}}
	out := deleteOutput{Deleted: []string{}, Kept: []string{}}
	deleted := map[string]bool{}
	propagation := metav1.DeletePropagationForeground
	for {
		if ctx.Err() != nil {
			fail(fmt.Errorf("cascade deletion timed out"))
		}
		live, err := clusterCache.GetManagedLiveObjs(nil, isManaged)
		if err != nil {
			fail(err)
		}
		var objs []*unstructured.Unstructured
		pending := false
		keys := make([]kube.ResourceKey, 0, len(live))
		for k := range live {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			o := live[k]
			if o.GetDeletionTimestamp() != nil {
				pending = true
				continue
			}
			if shouldBeDeleted(opts, o) {
				objs = append(objs, o)
			}
		}
		if pending {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if len(objs) == 0 {
			for _, k := range keys {
				out.Kept = append(out.Kept, key(live[k]))
			}
			return out
		}
		for _, o := range filterObjectsForDeletion(objs) {
			if err := kubectl.DeleteResource(ctx, config, o.GroupVersionKind(), o.GetName(), o.GetNamespace(), metav1.DeleteOptions{PropagationPolicy: &propagation}); err != nil {
				fail(err)
			}
			if !deleted[key(o)] {
				deleted[key(o)] = true
				out.Deleted = append(out.Deleted, key(o))
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}
