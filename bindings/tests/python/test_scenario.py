"""The Python bindings against a real gridsync-center on loopback.

Run by bindings/scripts/test-python.sh, which generates the bindings and builds the
center first. A grid worker's day: open an encrypted store, register a household with
members, find a person by pinyin initials, take an incident through its loop, meet a
typed validation error, enrol with the center and sync to a second phone.
"""

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.environ["GRIDSYNC_PYTHON_BINDINGS"])
import gridsync_ffi as gs  # noqa: E402

CENTER = os.environ["GRIDSYNC_CENTER_BIN"]
GRID = "440106012003001"
MICRO = GRID + "01"


def id_number(first17):
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def person(name, first17, gender, birth, household_id, relationship):
    return gs.Person(
        area_code=MICRO, name=name, former_name=None, id_type=gs.IdType.RESIDENT_ID,
        id_number=id_number(first17), gender=gender, ethnicity="01", birth_date=birth,
        phone=None, household_id=household_id, relationship=relationship,
        person_type=gs.PersonType.REGISTERED, registered_address=None, current_address=None,
        occupation=None, status=gs.PersonStatus.ACTIVE, status_changed_at=None,
        focus_groups=[], notes="")


def png(width, height):
    """A PNG of gradients (what a gallery may hand over), written without any library."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\0" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, (x ^ y) & 255))
        for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Center:
    """gridsync-center serving a fresh database on a free loopback port."""

    def __init__(self, folder):
        self.db = os.path.join(folder, "center.db")
        self.admin("add-worker", "--id", "w-py", "--name", "网格员", "--scope", GRID)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [CENTER, "serve", "--db", self.db, "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the center did not start")

    def admin(self, *args):
        return subprocess.run([CENTER, "admin", "--db", self.db, *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    def code(self):
        return self.admin("enrol-code", "--worker", "w-py")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class StallingProxy:
    """Carries the phone's connections to the center; while `stall` is set, it takes new
    requests and never answers them, as a 2G link that froze."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.stall = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self):
        while True:
            try:
                phone, _ = self.listener.accept()
            except OSError:
                return
            if self.stall.is_set():
                self.held.append(phone)
                continue
            center = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((phone, center), (center, phone)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def stop(self):
        self.listener.close()
        for held in self.held:
            held.close()


class Changes(gs.ChangeListener):
    def __init__(self):
        self.seen = []

    def on_change(self, event):
        self.seen.append(event)


class Progress(gs.SyncProgressListener):
    """Records progress, and reads the store meanwhile: the app's connection stays
    usable while sync runs on its own."""

    def __init__(self, store=None):
        self.calls = []
        self.store = store
        self.seen_households = []

    def on_progress(self, progress):
        self.calls.append(progress)
        if self.store is not None:
            self.seen_households.append(len(self.store.list_households("", None, 50).items))


class Lines(gs.LogSink):
    """Collects gridsync's log lines, as an app's Logcat or OSLog sink would."""

    def __init__(self):
        self.lines = []

    def log(self, level, target, message):
        self.lines.append((level, target, message))


class GridWorkerDay(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.center = Center(self.folder.name)
        self.options = gs.CenterOptions(ca_certificate=None, allow_insecure_loopback=True)

    def tearDown(self):
        self.center.stop()
        self.folder.cleanup()

    def phone(self, name):
        store = gs.GridStore.open(os.path.join(self.folder.name, name + ".db"), os.urandom(32))
        store.enrol(self.center.url, self.center.code(), name, self.options)
        return store

    def test_a_day_in_the_field(self):
        store = self.phone("phone-a")
        changes = Changes()
        subscription = store.subscribe(changes)

        household = store.create_household(gs.Household(
            area_code=MICRO, household_no="00301001", household_type=gs.HouseholdType.FAMILY,
            address="龙潭村幸福路8号", gps=gs.Gps(lat=23.1, lon=113.3), residence_matches=True,
            housing=gs.Housing.OWNED, tags=["低保户"], phone="13800138000", notes=""))
        wang = store.create_person(person("王芳", "44010619900307002", gs.Gender.FEMALE, "1990-03-07", household, "02"))
        # The household's automerge document, for any automerge implementation.
        self.assertEqual(store.export_record(household)[:4], bytes([0x85, 0x6F, 0x4A, 0x83]))
        store.create_person(person("李强", "44010619880512003", gs.Gender.MALE, "1988-05-12", household, "10"))
        self.assertEqual(len(store.household_members(household)), 2)
        self.assertEqual([p.id for p in store.search_persons("wf", "", 10)], [wang])
        self.assertEqual([p.name for p in store.search_persons("王芳", "4401", 10)], ["王芳"])
        self.assertEqual(changes.seen[0], gs.ChangeEvent.WRITTEN(record_ids=[household]))

        # A typed validation error names the field and the rule.
        bad = person("赵六", "44010619900307002", gs.Gender.FEMALE, "1990-03-07", household, "20")
        bad.id_number = bad.id_number[:-1] + ("0" if bad.id_number[-1] != "0" else "1")
        with self.assertRaises(gs.GridsyncError.InvalidInput) as caught:
            store.create_person(bad)
        self.assertEqual(caught.exception.field, "id_number")
        self.assertIn("check character", caught.exception.rule)
        # A stable code, and the Chinese a grid worker reads.
        self.assertEqual(caught.exception.code, "id_number.checksum")
        self.assertEqual(caught.exception.message_zh, "证件号码：公民身份号码校验码不对，请核对（GB 11643）")

        incident = store.create_incident(gs.Incident(
            area_code=MICRO, service_no="SJ0001", title="邻里纠纷", categories=["矛盾纠纷/邻里纠纷"],
            location="龙潭村", gps=None, occurred_at=int(time.time() * 1000), people_count=2,
            involved_persons=[wang], involved_households=[household], major=False, timeline=[], notes="两户争执"))
        # A grid worker reports and resolves on the spot; accepting is the center's.
        store.append_follow_up(incident, gs.Step.REPORT, "", None, None)
        self.assertNotIn(gs.Step.ACCEPT, store.next_steps(incident))
        with self.assertRaises(gs.GridsyncError.StepNotYours) as not_yours:
            store.append_follow_up(incident, gs.Step.ACCEPT, "", None, None)
        self.assertEqual((not_yours.exception.step, not_yours.exception.role), (gs.Step.ACCEPT, gs.Role.GRID_WORKER))
        self.assertEqual(not_yours.exception.code, "incident.step_not_yours")
        self.assertEqual(not_yours.exception.message_zh, "“受理”不由网格员办理")
        self.assertIn(gs.Step.RESOLVE_ON_SITE, store.next_steps(incident))
        store.append_follow_up(incident, gs.Step.RESOLVE_ON_SITE, "", None, None)
        self.assertEqual(store.incident_state(incident).status, gs.IncidentStatus.COMPLETED)
        with self.assertRaises(gs.GridsyncError.IllegalStep) as refused:
            store.append_follow_up(incident, gs.Step.START_HANDLING, "", None, None)
        self.assertEqual(refused.exception.code, "incident.illegal_step")
        self.assertEqual((refused.exception.step, refused.exception.status),
                         (gs.Step.START_HANDLING, gs.IncidentStatus.COMPLETED))
        with self.assertRaises(gs.GridsyncError.WrongKind) as wrong:
            store.get_household(wang)
        self.assertEqual((wrong.exception.expected, wrong.exception.actual), ("household", "person"))
        self.assertEqual(wrong.exception.message_zh, "这条记录是人口，不是户")
        self.assertEqual(refused.exception.message_zh, "事件当前为“待回访”，不能“开始办理”")

        progress = Progress(store)
        report = store.sync(self.options, progress, gs.SyncCancel())
        self.assertEqual(report.pushed, 1 + 2 + 1 + 2)
        self.assertTrue(progress.calls)
        self.assertEqual(set(progress.seen_households), {1}, "the store answered during the sync")
        self.assertEqual(store.sync_status().pending_changes, 0)
        finished = changes.seen[-1]
        self.assertTrue(finished.is_SYNC_FINISHED(), finished)
        self.assertEqual((finished.pushed, finished.quarantined, finished.conflicted), (6, 0, 0))
        enrolment = store.enrolment()
        self.assertEqual((enrolment.worker_id, enrolment.scope), ("w-py", ["440106012003001"]))
        self.assertEqual(enrolment.role, gs.Role.GRID_WORKER)

        other = self.phone("phone-b")
        other.sync(self.options, None, gs.SyncCancel())
        self.assertEqual(other.get_household(household).address, "龙潭村幸福路8号")
        # Who wrote what, as a history screen shows it: fields in Chinese, China time.
        made = other.history(household)[0]
        self.assertEqual(made.worker, "w-py")
        self.assertIn("地址", made.fields_zh)
        self.assertEqual(len(made.fields_zh), len(made.fields))
        self.assertEqual(gs.china_time(0), "1970-01-01 08:00")
        self.assertRegex(gs.china_time(made.at), r"^20\d\d-\d\d-\d\d \d\d:\d\d$")
        self.assertEqual(other.incident_state(incident).status, gs.IncidentStatus.COMPLETED)
        self.assertTrue(other.verify(self.options, gs.SyncCancel()).equal_before)

        subscription.cancel()
        seen = len(changes.seen)
        store.delete(household)
        self.assertEqual(len(changes.seen), seen, "a closed subscription hears nothing")

        # Erased on purpose: nothing left, not enrolled, the listeners told.
        wiped = Changes()
        kept = other.subscribe(wiped)
        other.wipe()
        self.assertIsNone(other.enrolment())
        self.assertEqual(other.list_households("", None, 10).items, [])
        self.assertEqual(wiped.seen, [gs.ChangeEvent.WIPED()])
        kept.cancel()

    def test_errors_say_what_is_missing_and_which_area(self):
        store = gs.GridStore.open(os.path.join(self.folder.name, "fresh.db"), os.urandom(32))
        with self.assertRaises(gs.GridsyncError.NotEnrolled) as sync:
            store.sync(self.options, None, gs.SyncCancel())
        self.assertIn("enrol", sync.exception.missing)
        with self.assertRaises(gs.GridsyncError.NotEnrolled) as register:
            store.create_person(person("王芳", "44010619900307002", gs.Gender.FEMALE, "1990-03-07", None, None))
        self.assertIn("township key", register.exception.missing)
        enrolled = self.phone("phone-scope")
        elsewhere = "44010601200400101"
        with self.assertRaises(gs.GridsyncError.OutOfScope) as outside:
            enrolled.create_household(gs.Household(
                area_code=elsewhere, household_no="1", household_type=gs.HouseholdType.FAMILY,
                address="石桥村1号", gps=None, residence_matches=True, housing=gs.Housing.OWNED, tags=[],
                phone=None, notes=""))
        self.assertEqual(outside.exception.area, elsewhere)

    def test_a_phone_enrols_from_the_consoles_qr_code(self):
        with self.assertRaises(gs.GridsyncError.InvalidInput) as wrong:
            gs.parse_enrolment_link("https://example.com/enrol?code=1")
        self.assertEqual(wrong.exception.code, "enrolment_link.format")
        self.assertEqual(wrong.exception.message_zh,
                         "注册二维码：须为综治中心“设备”页上显示的二维码（gridsync-enrol:v1开头）")
        # What the QR code holds, as docs/console.md writes it (a center without TLS
        # names no CA).
        link = f"gridsync-enrol:v1?center={self.center.url}&code={self.center.code()}"
        info = gs.parse_enrolment_link(link)
        self.assertEqual((info.center_url, info.pins_certificate), (self.center.url, False))
        store = gs.GridStore.open(os.path.join(self.folder.name, "phone-qr.db"), os.urandom(32))
        enrolment = asyncio.run(store.enrol_from_link_async(link, "phone-qr", self.options))
        self.assertEqual((enrolment.worker_id, store.enrolment().device_id), ("w-py", enrolment.device_id))

    def test_the_id_number_is_typed_once(self):
        facts = gs.parse_id_number("４４０１０６１９９００３０７００２" + id_number("44010619900307002")[-1])
        self.assertEqual((facts.birth_date, facts.gender, facts.region, facts.province),
                         ("1990-03-07", gs.Gender.FEMALE, "440106", "广东省"))
        with self.assertRaises(gs.GridsyncError.InvalidInput) as wrong:
            gs.parse_id_number("440106199003070021")
        self.assertEqual(wrong.exception.field, "id_number")
        store = self.phone("phone-id")
        derived = person("王芳", "44010619900307002", None, None, None, None)
        created = store.create_person(derived)
        read = store.get_person(created)
        self.assertEqual((read.birth_date, read.gender), ("1990-03-07", gs.Gender.FEMALE))
        without = person("李四", "44010619880512003", None, None, None, None)
        without.id_number = None
        with self.assertRaises(gs.GridsyncError.InvalidInput) as missing:
            store.create_person(without)
        self.assertEqual(missing.exception.field, "gender")

    def test_a_photo_reaches_a_colleague_who_fetches_it(self):
        store = self.phone("phone-photo")
        incident = store.create_incident(gs.Incident(
            area_code=MICRO, service_no="SJ0002", title="排水沟堵塞", categories=["环境卫生"],
            location="龙潭村", gps=None, occurred_at=int(time.time() * 1000), people_count=1,
            involved_persons=[], involved_households=[], major=False, timeline=[], notes=""))
        photo = asyncio.run(store.attach_photo_async(incident, png(2400, 1800), "沟里堆满垃圾", None))
        self.assertEqual((photo.width, photo.height), (1600, 1200))
        self.assertTrue(photo.photo_here and not photo.uploaded)
        self.assertEqual((store.pending_photos().photos, store.pending_photos().blobs), (1, 2))
        progress = Progress()
        report = store.sync(self.options, progress, gs.SyncCancel())
        self.assertEqual(report.photos_sent, 2)
        self.assertEqual(report.photo_bytes_sent, photo.size + photo.thumbnail_size)
        photo_phase = [p for p in progress.calls if p.phase == gs.Phase.PHOTOS]
        self.assertTrue(photo_phase)
        last = photo_phase[-1]
        self.assertEqual((last.items_done, last.items_total), (1, 1), "one photo, with its thumbnail")
        self.assertEqual(last.photo_bytes_done, photo.size + photo.thumbnail_size)
        self.assertEqual(last.photo_bytes_total, photo.size + photo.thumbnail_size)
        self.assertEqual(store.pending_photos().blobs, 0)

        colleague = self.phone("phone-colleague")
        colleague.sync(self.options, None, gs.SyncCancel())
        [seen] = colleague.photos(incident)
        self.assertEqual((seen.caption, seen.hash), ("沟里堆满垃圾", photo.hash))
        self.assertFalse(seen.thumbnail_here)
        self.assertIsNone(colleague.photo_bytes(seen.thumbnail_hash))
        thumbnail = asyncio.run(colleague.fetch_photo_async(incident, seen.thumbnail_hash, self.options))
        self.assertEqual(thumbnail[:2], b"\xff\xd8", "a JPEG")
        self.assertEqual(colleague.photo_bytes(seen.thumbnail_hash), thumbnail)
        whole = asyncio.run(colleague.fetch_photo_async(incident, seen.hash, self.options))
        self.assertEqual(whole, store.photo_bytes(photo.hash))

        colleague.set_photo_settings(gs.PhotoSettings(pending_quota_bytes=1000))
        with self.assertRaises(gs.GridsyncError.PhotoQuotaFull) as full:
            colleague.attach_photo(incident, png(640, 480), "", None)
        self.assertEqual(full.exception.code, "attachment.quota_full")
        self.assertIn("照片", full.exception.message_zh)

    def test_the_core_s_logs_reach_the_app_without_personal_data(self):
        sink = Lines()
        gs.set_log_sink(sink, gs.LogLevel.DEBUG)
        store = self.phone("phone-logs")  # a new store: its migration is logged
        household = store.create_household(gs.Household(
            area_code=MICRO, household_no="00301099", household_type=gs.HouseholdType.FAMILY,
            address="龙潭村99号", gps=None, residence_matches=True, housing=gs.Housing.OWNED, tags=[],
            phone=None, notes=""))
        number = id_number("44010619850101001")
        store.create_person(person("欧阳秀英", "44010619850101001", None, None, household, "02"))
        store.sync(self.options, None, gs.SyncCancel())
        self.assertTrue(any(t.startswith("gridsync_core") for _, t, _ in sink.lines), sink.lines[:5])
        self.assertTrue(any("migrated" in m for _, _, m in sink.lines), "the store's migration is in the log")
        for _, _, message in sink.lines:
            for secret in ("欧阳秀英", number, number[-6:]):
                self.assertNotIn(secret, message)
        # Only the levels asked for, from any library.
        gs.set_log_sink(sink, gs.LogLevel.WARN)
        sink.lines.clear()
        self.phone("phone-quiet").sync(self.options, None, gs.SyncCancel())
        self.assertEqual([l for l in sink.lines if l[0] not in (gs.LogLevel.WARN, gs.LogLevel.ERROR)], [])

    def test_an_import_is_all_or_nothing(self):
        store = self.phone("phone-import")
        rows = [gs.Household(
            area_code=MICRO, household_no=f"0030{n:04}", household_type=gs.HouseholdType.FAMILY,
            address=f"龙潭村{n}号", gps=None, residence_matches=True, housing=gs.Housing.OWNED, tags=[],
            phone=None, notes="") for n in range(50)]
        rows[37].address = ""
        with self.assertRaises(gs.GridsyncError.InvalidInput) as refused:
            store.import_households(rows)
        self.assertEqual(refused.exception.field, "rows[37].address")
        self.assertEqual(store.list_households("", None, 100).items, [])
        rows[37].address = "龙潭村37号"
        ids = store.import_households(rows)
        self.assertEqual(len(ids), 50)
        self.assertEqual(len(store.list_households("", None, 100).items), 50)

    def test_a_wrong_key_is_refused(self):
        path = os.path.join(self.folder.name, "locked.db")
        gs.GridStore.open(path, os.urandom(32))
        with self.assertRaises(gs.GridsyncError.WrongKey):
            gs.GridStore.open(path, os.urandom(32))
        with self.assertRaises(gs.GridsyncError.InvalidInput):
            gs.GridStore.open(path, b"short")

    def test_cancelling_the_awaiting_task_cancels_a_sync_stalled_mid_request(self):
        proxy = StallingProxy(self.center.port)
        self.addCleanup(proxy.stop)
        patient = gs.CenterOptions(ca_certificate=None, allow_insecure_loopback=True,
                                   request_timeout_ms=90_000, retries=4, backoff_base_ms=30_000)

        async def day():
            store = gs.GridStore.open(os.path.join(self.folder.name, "phone-async.db"), os.urandom(32))
            enrolment = await store.enrol_async(proxy.url, self.center.code(), "phone-async", patient)
            self.assertEqual(enrolment.role, gs.Role.GRID_WORKER)
            store.create_household(gs.Household(
                area_code=MICRO, household_no="00301009", household_type=gs.HouseholdType.FAMILY,
                address="龙潭村幸福路9号", gps=None, residence_matches=True, housing=gs.Housing.OWNED,
                tags=[], phone=None, notes=""))
            proxy.stall.set()  # the link freezes: the request goes out and nothing comes back
            task = asyncio.ensure_future(store.sync_async(patient, None))
            await asyncio.sleep(0.5)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            proxy.stall.clear()
            # The cancelled sync let go of the store within moments (a 90 s request timeout
            # and 30 s backoffs notwithstanding): the next sync runs at once and delivers
            # the household, once.
            started = time.monotonic()
            report = await store.sync_async(patient, None)
            elapsed = time.monotonic() - started
            self.assertLess(elapsed, 2.0, f"the next sync waited {elapsed:.1f} s for the cancelled one")
            self.assertEqual(report.pushed, 1)
            self.assertEqual(store.sync_status().pending_changes, 0)
            self.assertTrue((await store.verify_async(patient)).equal_before)
            print(f"figures python async cancel: next sync after a cancel mid-request took {elapsed * 1000:.0f} ms")

            # An enrolment waiting on a frozen link leaves the app's store free to use,
            # and its cancel leaves the phone as it was: not enrolled.
            fresh = gs.GridStore.open(os.path.join(self.folder.name, "phone-fresh.db"), os.urandom(32))
            proxy.stall.set()
            enrolling = asyncio.ensure_future(fresh.enrol_async(proxy.url, self.center.code(), "fresh", patient))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            self.assertEqual(fresh.list_households("", None, 10).items, [])
            self.assertLess(time.monotonic() - started, 1.0, "the app's calls wait for the enrolment")
            enrolling.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await enrolling
            await asyncio.sleep(0.2)  # the cancelled work lets go within its poll interval
            self.assertIsNone(fresh.enrolment())

            # A deadline ends a sync on a frozen link by itself, as a cancel would.
            store.create_household(gs.Household(
                area_code=MICRO, household_no="00301010", household_type=gs.HouseholdType.FAMILY,
                address="龙潭村幸福路10号", gps=None, residence_matches=True, housing=gs.Housing.OWNED,
                tags=[], phone=None, notes=""))
            bounded = gs.CenterOptions(ca_certificate=None, allow_insecure_loopback=True,
                                       request_timeout_ms=90_000, retries=4, backoff_base_ms=30_000,
                                       deadline_ms=700)
            started = time.monotonic()
            with self.assertRaises(gs.GridsyncError.Cancelled):
                await store.sync_async(bounded, None)
            elapsed = time.monotonic() - started
            self.assertTrue(0.7 <= elapsed < 2.0, f"the deadline of 0.7 s ended the sync after {elapsed:.2f} s")
            proxy.stall.clear()
            self.assertEqual((await store.sync_async(patient, None)).pushed, 1, "the next sync delivers it")

        asyncio.run(day())

    def test_a_cancelled_sync_stops_and_a_sync_on_another_thread_completes(self):
        store = self.phone("phone-c")
        cancel = gs.SyncCancel()
        cancel.cancel()
        with self.assertRaises(gs.GridsyncError.Cancelled):
            store.sync(self.options, None, cancel)
        done = threading.Event()
        threading.Thread(target=lambda: (store.sync(self.options, None, gs.SyncCancel()), done.set())).start()
        self.assertTrue(done.wait(30))


if __name__ == "__main__":
    unittest.main(verbosity=2)
