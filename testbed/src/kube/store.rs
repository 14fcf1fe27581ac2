//! The object store: what a real API server plus its controllers would keep. Writes go through
//! defaulting, validation and update rules; a write that changes nothing keeps the stored
//! object (and its resourceVersion) as it is; after every change, PersistentVolume binding
//! and dynamic provisioning are reconciled.

use super::admission;
use super::immutable::update_errors;
use super::kinds::{by_kind, KindInfo};
use super::status::ApiError;
use super::time::now;
use super::validate::validate_object;
use super::{controllers, defaults};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};

/// How many watch events the store remembers; older resourceVersions answer 410 Gone.
const EVENT_HISTORY: usize = 4096;

/// One change, as a watch reports it.
#[derive(Clone, Debug)]
pub struct Event {
    pub revision: u64,
    pub kind: &'static str,
    pub object: Value,
}

/// (kind, namespace or "" for cluster-scoped, name).
pub type Key = (String, String, String);

/// Kinds whose `metadata.generation` tracks spec changes.
const GENERATION_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "Job",
    "PodDisruptionBudget",
    "NetworkPolicy",
];

#[derive(Clone, Debug)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    events: VecDeque<Event>,
    /// The newest revision no longer in `events`.
    forgotten: u64,
    revision: u64,
    serial: u64,
    salt: u64,
    /// VolumeAttachments kept by attach.rs (off unless switched on).
    pub(super) attachments: super::attach::Tracker,
    /// What tests set for pods and their gossip (see `pods`).
    pub(super) overrides: super::pods::Overrides,
    /// Grows a CSI volume's cloud disk (driver, volume handle, GiB), as the driver's
    /// `ControllerExpandVolume` does; none: volumes of a CSI driver do not grow.
    pub(super) expander: Option<Expander>,
    /// Volume expansions under way (see `resizer`).
    pub(super) resizing: super::resizer::Resizing,
}

/// The bed's volume expander, held by the store so the controllers reach it.
#[derive(Clone)]
pub struct Expander(pub super::VolumeExpander);

impl std::fmt::Debug for Expander {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Expander")
    }
}

/// How an object reached [`Store::write`]; decides managedFields and precondition handling.
pub struct Writer<'a> {
    pub manager: &'a str,
    pub operation: &'a str,
    /// The fields an update set (fieldsV1), where known.
    pub fields: Option<Value>,
}

pub fn key_of(info: &KindInfo, namespace: Option<&str>, name: &str) -> Key {
    let ns = if info.namespaced {
        namespace.unwrap_or("")
    } else {
        ""
    };
    (info.kind.to_string(), ns.to_string(), name.to_string())
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj["metadata"][field].as_str()
}

fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    match obj.get_mut("metadata").and_then(Value::as_object_mut) {
        Some(m) => m,
        None => unreachable!("metadata was just made an object"),
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// A store holding the namespaces every cluster starts with.
    pub fn new() -> Store {
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut store = Store {
            objects: BTreeMap::new(),
            events: VecDeque::new(),
            forgotten: 1000,
            revision: 1000,
            serial: 0,
            salt,
            attachments: Default::default(),
            overrides: Default::default(),
            expander: None,
            resizing: Default::default(),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            store.seed(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        store
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.objects.values()
    }

    pub fn get(&self, info: &KindInfo, namespace: Option<&str>, name: &str) -> Option<&Value> {
        self.objects.get(&key_of(info, namespace, name))
    }

    /// Objects of one kind, in one namespace or all, in etcd order (namespace, name).
    pub fn list<'a>(
        &'a self,
        info: &'a KindInfo,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |((kind, ns, _), _)| {
                kind == info.kind && namespace.is_none_or(|wanted| wanted == ns)
            })
            .map(|(_, v)| v)
    }

    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.objects.contains_key(&(
            "Namespace".to_string(),
            String::new(),
            namespace.to_string(),
        ))
    }

    pub(super) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// A fresh UUID-shaped uid.
    pub(super) fn new_uid(&mut self) -> String {
        let n = self.next_serial();
        let mix = self.salt ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (mix >> 32) as u32,
            (mix >> 16) as u16,
            (mix & 0xfff) as u16,
            n & 0xfff,
            n & 0xffff_ffff_ffff
        )
    }

    fn bump(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    /// Remembers a change for watchers; `object` carries its new resourceVersion.
    fn record(&mut self, kind: &'static str, object: &Value) {
        let revision = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(self.revision);
        self.events.push_back(Event {
            revision,
            kind,
            object: object.clone(),
        });
        while self.events.len() > EVENT_HISTORY {
            if let Some(old) = self.events.pop_front() {
                self.forgotten = old.revision;
            }
        }
    }

    /// Changes after `revision`, or `None` when they are no longer all remembered.
    pub fn events_since(&self, revision: u64) -> Option<impl Iterator<Item = &Event>> {
        (revision >= self.forgotten)
            .then(|| self.events.iter().filter(move |e| e.revision > revision))
    }

    /// Stores a deletion: the object's last state gets a new resourceVersion.
    fn record_deletion(&mut self, mut object: Value) -> Value {
        let rv = self.bump();
        metadata_mut(&mut object).insert("resourceVersion".into(), rv.into());
        self.record("DELETED", &object);
        object
    }

    /// Stores `object` as given (plus uid, resourceVersion and creationTimestamp if missing),
    /// without validation; for test fixtures such as Nodes. Panics on a kind not served.
    pub fn seed(&mut self, mut object: Value) {
        let Some(info) = object["kind"].as_str().and_then(by_kind) else {
            let served: Vec<&str> = super::kinds::KINDS.iter().map(|k| k.kind).collect();
            panic!(
                "seed: kind {} is not served (served: {served:?})",
                object["kind"]
            );
        };
        if object["apiVersion"].is_null() {
            object["apiVersion"] = info.api_version().into();
        }
        let uid = self.new_uid();
        let rv = self.bump();
        let meta = metadata_mut(&mut object);
        meta.entry("uid").or_insert(uid.into());
        meta.entry("creationTimestamp").or_insert(now().into());
        meta.insert("resourceVersion".into(), rv.into());
        if !info.namespaced {
            meta.remove("namespace");
        } else if !meta.contains_key("namespace") {
            meta.insert("namespace".into(), "default".into());
        }
        let (ns, name) = (
            meta_str(&object, "namespace").map(String::from),
            meta_str(&object, "name").unwrap_or("").to_string(),
        );
        if info.kind == "Namespace" && object["status"].is_null() {
            object["status"] = json!({"phase": "Active"});
        }
        self.record("ADDED", &object);
        self.objects
            .insert(key_of(info, ns.as_deref(), &name), object);
        controllers::reconcile(self);
    }

    /// Creates, updates or (when nothing changes) keeps an object. `candidate` is the full
    /// desired object as the client sent it (after apply/patch merging); `namespace` is from
    /// the URL. Returns the stored object and whether it was created.
    pub fn write(
        &mut self,
        info: &KindInfo,
        namespace: Option<&str>,
        mut candidate: Value,
        writer: &Writer,
    ) -> Result<(Value, bool), ApiError> {
        let name = meta_str(&candidate, "name").unwrap_or("").to_string();
        let key = key_of(info, namespace, &name);
        let old = self.objects.get(&key).cloned();
        if info.namespaced && old.is_none() {
            let ns = namespace.unwrap_or("");
            if !self.namespace_exists(ns) {
                return Err(ApiError::namespace_not_found(ns));
            }
        }
        normalize(info, namespace, &mut candidate, old.as_ref());
        let from_apply = writer.operation == "Apply";
        defaults::apply(self, info, &mut candidate, old.as_ref(), from_apply)?;
        let mut errs = validate_object(info, &candidate);
        if let Some(old) = &old {
            errs.extend(update_errors(info, old, &candidate));
        }
        if !errs.is_empty() {
            return Err(ApiError::invalid(info, &name, &errs));
        }
        if let (Some(old), "PersistentVolumeClaim") = (&old, info.kind) {
            admission::claim_resize(self, &name, old, &candidate)?;
        }
        controllers::derive_status(self, info, &mut candidate, old.as_ref());
        if let Some(old) = &old {
            if comparable(old) == comparable(&candidate) {
                return Ok((old.clone(), false));
            }
        }
        let generation = match &old {
            None => 1,
            Some(old) => {
                let before = old["metadata"]["generation"].as_i64().unwrap_or(1);
                if without_meta_status(old) == without_meta_status(&candidate) {
                    before
                } else {
                    before + 1
                }
            }
        };
        let rv = self.bump();
        let uid = match &old {
            Some(o) => o["metadata"]["uid"].clone(),
            None => self.new_uid().into(),
        };
        let created_at = match &old {
            Some(o) => o["metadata"]["creationTimestamp"].clone(),
            None => now().into(),
        };
        let managed = managed_fields(info, old.as_ref(), writer);
        let meta = metadata_mut(&mut candidate);
        meta.insert("uid".into(), uid);
        meta.insert("creationTimestamp".into(), created_at);
        meta.insert("resourceVersion".into(), rv.into());
        meta.insert("managedFields".into(), managed);
        if GENERATION_KINDS.contains(&info.kind) {
            meta.insert("generation".into(), generation.into());
            if let Some(status) = candidate.get_mut("status").and_then(Value::as_object_mut) {
                if status.contains_key("observedGeneration") {
                    status.insert("observedGeneration".into(), generation.into());
                }
            }
        }
        self.record(if old.is_none() { "ADDED" } else { "MODIFIED" }, &candidate);
        self.objects.insert(key.clone(), candidate);
        controllers::reconcile(self);
        let stored = self.objects.get(&key).cloned().unwrap_or(Value::Null);
        Ok((stored, old.is_none()))
    }

    /// Removes an object (a Namespace takes its contents along); returns what was removed.
    /// A Pod or claim may only be marked Terminating (see `graceful`); `grace_period` is the
    /// delete's `gracePeriodSeconds`.
    pub fn delete(
        &mut self,
        info: &KindInfo,
        namespace: Option<&str>,
        name: &str,
        grace_period: Option<i64>,
    ) -> Result<Value, ApiError> {
        let key = key_of(info, namespace, name);
        let graceful = match info.kind {
            "Pod" => Some(super::graceful::delete_pod(self, &key, grace_period)),
            "PersistentVolumeClaim" => Some(super::graceful::delete_claim(self, &key)),
            _ => None,
        };
        if let Some(outcome) = graceful {
            let object = outcome.ok_or_else(|| ApiError::not_found(info, name))?;
            controllers::reconcile(self);
            return Ok(object);
        }
        let removed = self
            .objects
            .remove(&key_of(info, namespace, name))
            .ok_or_else(|| ApiError::not_found(info, name))?;
        let removed = self.record_deletion(removed);
        if info.kind == "Namespace" {
            let contents: Vec<Key> = self
                .objects
                .keys()
                .filter(|(kind, ns, _)| ns == name && by_kind(kind).is_some_and(|k| k.namespaced))
                .cloned()
                .collect();
            for key in contents {
                if let Some(object) = self.objects.remove(&key) {
                    self.record_deletion(object);
                }
            }
        }
        controllers::reconcile(self);
        Ok(removed)
    }

    /// Replaces a stored object's field as a controller would, bumping its resourceVersion
    /// when it changes.
    pub(super) fn controller_update(&mut self, key: &Key, update: impl FnOnce(&mut Value)) {
        let Some(current) = self.objects.get(key) else {
            return;
        };
        let mut next = current.clone();
        update(&mut next);
        if next != *current {
            let rv = self.bump();
            metadata_mut(&mut next).insert("resourceVersion".into(), rv.into());
            self.record("MODIFIED", &next);
            self.objects.insert(key.clone(), next);
        }
    }

    pub(super) fn insert_raw(&mut self, key: Key, mut object: Value) {
        let rv = self.bump();
        metadata_mut(&mut object).insert("resourceVersion".into(), rv.into());
        self.record("ADDED", &object);
        self.objects.insert(key, object);
    }

    pub(super) fn remove_raw(&mut self, key: &Key) {
        if let Some(object) = self.objects.remove(key) {
            self.record_deletion(object);
        }
    }

    pub(super) fn keys_of(&self, kind: &str) -> Vec<Key> {
        self.objects
            .keys()
            .filter(|(k, _, _)| k == kind)
            .cloned()
            .collect()
    }

    pub(super) fn by_key(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }
}

/// Puts the URL's namespace and the kind's identity in place and drops what clients may not
/// set: server-owned metadata comes from the stored object, and `status` is ignored on writes
/// to the main resource.
fn normalize(info: &KindInfo, namespace: Option<&str>, obj: &mut Value, old: Option<&Value>) {
    obj["apiVersion"] = info.api_version().into();
    obj["kind"] = info.kind.into();
    let meta = metadata_mut(obj);
    match namespace.filter(|_| info.namespaced) {
        Some(ns) => {
            meta.insert("namespace".into(), ns.into());
        }
        None => {
            meta.remove("namespace");
        }
    }
    for field in [
        "uid",
        "creationTimestamp",
        "resourceVersion",
        "generation",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        meta.remove(field);
    }
    // An object being deleted stays so through updates.
    for field in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
        if let Some(value) = old.map(|o| &o["metadata"][field]).filter(|v| !v.is_null()) {
            meta.insert(field.into(), value.clone());
        }
    }
    for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
        if meta.get(field).is_some_and(Value::is_null) {
            meta.remove(field);
        }
    }
    let status = old.map(|o| o["status"].clone()).unwrap_or(Value::Null);
    match obj.as_object_mut() {
        Some(map) if status.is_null() => {
            map.remove("status");
        }
        Some(map) => {
            map.insert("status".into(), status);
        }
        None => {}
    }
}

/// The object as compared for "did anything change".
fn comparable(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "generation",
            "managedFields",
        ] {
            meta.remove(field);
        }
    }
    if let Some(status) = copy.get_mut("status").and_then(Value::as_object_mut) {
        status.remove("observedGeneration");
    }
    copy
}

fn without_meta_status(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    copy
}

fn managed_fields(info: &KindInfo, old: Option<&Value>, writer: &Writer) -> Value {
    let all: Vec<Value> = old
        .and_then(|o| o["metadata"]["managedFields"].as_array().cloned())
        .unwrap_or_default();
    let mine = |e: &Value| e["manager"] == writer.manager && e["operation"] == writer.operation;
    let mut fields = all
        .iter()
        .find(|e| mine(e))
        .map_or_else(|| json!({}), |e| e["fieldsV1"].clone());
    if let Some(more) = &writer.fields {
        super::ownership::merge(&mut fields, more);
    }
    let mut entries: Vec<Value> = all.into_iter().filter(|e| !mine(e)).collect();
    entries.push(json!({
        "manager": writer.manager,
        "operation": writer.operation,
        "apiVersion": info.api_version(),
        "time": now(),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields
    }));
    Value::Array(entries)
}
