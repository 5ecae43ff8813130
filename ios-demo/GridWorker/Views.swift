import GridsyncFFI
import SwiftUI

struct RootView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        Group {
            if model.enrolled {
                VStack(spacing: 0) {
                    SyncBar()
                    TabView {
                        NavigationView { HouseholdList() }.tabItem { Text("households") }
                        NavigationView { SearchView() }.tabItem { Text("search") }
                        NavigationView { IncidentList() }.tabItem { Text("incidents") }
                        NavigationView { ConflictList() }.tabItem { Text("conflicts") }
                    }
                }
            } else {
                EnrolView()
            }
        }
        .alert(item: Binding(get: { model.message.map(Message.init) }, set: { _ in model.message = nil })) {
            Alert(title: Text($0.text))
        }
    }
}

struct Message: Identifiable {
    let text: String
    var id: String { text }
}

struct SyncBar: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        VStack {
            if !model.online {
                // Offline for days is normal: say that nothing is lost.
                Text("offline").font(.caption).foregroundColor(.secondary).frame(maxWidth: .infinity, alignment: .leading)
            }
            HStack {
                // Records and photos apart: "2 条修改待同步，照片 3 张待上传（1.4 MB）", "记录已同步，照片 1/3（…）".
                Text(SyncLine.text(syncing: model.syncing, progress: model.syncProgress,
                                   pendingChanges: model.pending, photos: model.pendingPhotos))
                    .font(.footnote)
                Spacer()
                if model.syncing {
                    Button("cancel") { model.cancelSync() }
                } else {
                    Button("sync") { model.sync() }
                }
            }
            if model.syncing {
                if let photos = model.photoProgress {
                    ProgressView(value: photos).tint(.orange) // the photo phase, after every record, by bytes
                } else if let progress = model.progress {
                    ProgressView(value: progress)
                } else {
                    ProgressView()
                }
            } else {
                Text(model.lastSync).font(.caption2).frame(maxWidth: .infinity, alignment: .leading)
            }
        }
        .padding(8)
    }
}

/// Enrolment: scan the QR code the console's 设备 page shows (or paste its text), check
/// the center and code it names, then enrol; address, code and CA by hand stay behind
/// 手动输入.
struct EnrolView: View {
    @EnvironmentObject var model: AppModel
    @State private var scanning = false
    @State private var pasted = ""
    @State private var scanned: Scanned?
    @State private var url = "https://"
    @State private var code = ""
    @State private var ca = ""

    enum Scanned {
        case link(String, EnrolmentLinkInfo)
        case notALink(String)
    }

    var body: some View {
        Form {
            Section(header: Text("enrol"), footer: Text("scan_hint")) {
                Button("scan_qr") { scanning = true }
                TextField("paste_link", text: $pasted).autocapitalization(.none).disableAutocorrection(true)
                Button("read_link") { read(pasted) }
            }
            switch scanned {
            case .link(let text, let info):
                Section {
                    Text(String(format: NSLocalizedString("scanned_center %@", comment: ""), info.centerUrl))
                    Text(String(format: NSLocalizedString("scanned_code %@", comment: ""), info.code))
                    if info.pinsCertificate { Text("scanned_pinned").font(.footnote) }
                    Button("enrol_this_phone") { model.enrolFromLink(text) }
                }
            case .notALink(let messageZh):
                Text(messageZh).foregroundColor(.red)
            case nil:
                EmptyView()
            }
            Section {
                DisclosureGroup("manual_entry") {
                    TextField("center_url", text: $url).keyboardType(.URL).autocapitalization(.none)
                    TextField("enrol_code", text: $code).autocapitalization(.allCharacters)
                    TextEditor(text: $ca).frame(minHeight: 120)
                    Button("enrol") { model.enrol(url: url, code: code, ca: ca) }
                }
            }
        }
        .sheet(isPresented: $scanning) {
            QRScanner { text in
                scanning = false
                read(text)
            }
        }
    }

    private func read(_ text: String) {
        do {
            scanned = .link(text, try parseEnrolmentLink(link: text))
        } catch {
            scanned = .notALink(AppModel.describe(error))
        }
    }
}

struct HouseholdList: View {
    @EnvironmentObject var model: AppModel
    @State private var number = ""
    @State private var address = ""

    var body: some View {
        List {
            Section(header: Text("add_household")) {
                TextField("household_no", text: $number)
                TextField("address", text: $address)
                Button("save") {
                    guard let area = model.area else { return }
                    let household = Household(areaCode: area, householdNo: number, householdType: .family,
                                              address: address, gps: nil, residenceMatches: true, housing: .owned,
                                              tags: [], phone: nil, notes: "")
                    model.run({ try $0.createHousehold(household: household) }) { _ in number = ""; address = "" }
                }
            }
            ForEach(model.households, id: \.id) { household in
                NavigationLink(destination: HouseholdDetail(id: household.id)) {
                    VStack(alignment: .leading) {
                        Text(household.address)
                        Text(household.householdNo + " " + household.tags.joined(separator: " ")).font(.caption)
                    }
                }
            }
        }
        .navigationTitle("households")
    }
}

struct HouseholdDetail: View {
    @EnvironmentObject var model: AppModel
    let id: String
    @State private var household: Household?
    @State private var members: [PersonRow] = []
    @State private var visits: [VisitRow] = []
    @State private var purpose = ""
    @State private var finding = ""

    var body: some View {
        List {
            NavigationLink(destination: RecordHistoryView(id: id)) { Text("history") }
            Section(header: Text("members")) {
                ForEach(members, id: \.id) { member in
                    NavigationLink(destination: PersonEditor(id: member.id, householdId: id)) {
                        Text(member.name + " " + member.birthDate)
                    }
                }
                NavigationLink(destination: PersonEditor(id: nil, householdId: id)) { Text("add_person") }
            }
            Section(header: Text("visits")) {
                ForEach(visits, id: \.id) { Text($0.purpose) }
                TextField("purpose", text: $purpose)
                TextField("finding", text: $finding)
                Button("log_visit") { logVisit() }
            }
        }
        .navigationTitle(household?.address ?? "")
        .onAppear(perform: load)
    }

    private func load() {
        model.run({ store in
            (try store.getHousehold(id: id), try store.householdMembers(householdId: id), try store.visitsOf(targetId: id))
        }) { loaded in
            (household, members, visits) = loaded
        }
    }

    private func logVisit() {
        guard let area = household?.areaCode else { return }
        let visit = Visit(areaCode: area, targetKind: .household, targetId: id,
                          visitedAt: Int64(Date().timeIntervalSince1970 * 1000), visitor: model.store.deviceActor(),
                          gps: nil, purpose: purpose, nextDue: nil, findings: [], notes: "")
        let text = finding
        model.run({ store in
            let visitId = try store.createVisit(visit: visit)
            if !text.isEmpty { try store.appendFinding(visitId: visitId, text: text) }
        }) { _ in purpose = ""; finding = ""; load() }
    }
}

/// Add or edit a person; a rule a field breaks is shown under that field.
struct PersonEditor: View {
    @EnvironmentObject var model: AppModel
    @Environment(\.presentationMode) var presentation
    let id: String?
    let householdId: String
    @State private var name = ""
    @State private var idNumber = ""
    @State private var birthDate = ""
    @State private var gender: Gender = .female
    @State private var phone = ""
    @State private var errors: [String: String] = [:]
    /// The person as this screen read it: saving writes only what differs from it.
    @State private var opened: PersonForEdit?

    var body: some View {
        Form {
            field("name", text: $name, error: errors["name"])
            field("id_number", text: $idNumber, error: errors["id_number"] ?? errors["gender"])
                .onChange(of: idNumber) { fillFromIdNumber($0) }
            field("birth_date", text: $birthDate, error: errors["birth_date"])
            field("phone", text: $phone, error: errors["phone"])
            Button("save", action: save)
        }
        .onAppear {
            guard let id else { return }
            model.run({ try $0.getPersonForEdit(id: id) }) { read in
                opened = read
                let person = read.person
                name = person.name
                idNumber = person.idNumber ?? ""
                birthDate = person.birthDate ?? ""
                gender = person.gender ?? .female
                phone = person.phone ?? ""
            }
        }
    }

    private func field(_ label: LocalizedStringKey, text: Binding<String>, error: String?) -> some View {
        VStack(alignment: .leading) {
            TextField(label, text: text)
            if let error { Text(error).font(.caption).foregroundColor(.red) }
        }
    }

    /// Gender and birth date follow a resident ID number once it reads as one
    /// (`parseIdNumber`, the bindings' GB 11643 reading).
    private func fillFromIdNumber(_ value: String) {
        guard let facts = try? parseIdNumber(number: value) else { return }
        birthDate = facts.birthDate
        gender = facts.gender
    }

    /// The fields the worker changed on this form, and only those: what the form does not
    /// show (重点人群, addresses, occupation) and what a colleague changed meanwhile stay.
    private func changes(from read: Person) -> [PersonField] {
        var changes: [PersonField] = []
        if name != read.name { changes.append(.name(value: name)) }
        let number: String? = idNumber.isEmpty ? nil : idNumber
        if number != read.idNumber { changes.append(.idNumber(value: number)) }
        if gender != read.gender { changes.append(.gender(value: gender)) }
        if birthDate != read.birthDate { changes.append(.birthDate(value: birthDate)) }
        let newPhone: String? = phone.isEmpty ? nil : phone
        if newPhone != read.phone { changes.append(.phone(value: newPhone)) }
        return changes
    }

    private func save() {
        guard let area = model.area else { return }
        let person = Person(areaCode: area, name: name, formerName: nil, idType: .residentId,
                            idNumber: idNumber.isEmpty ? nil : idNumber, gender: gender, ethnicity: "01",
                            birthDate: birthDate.isEmpty ? nil : birthDate, phone: phone.isEmpty ? nil : phone,
                            householdId: householdId,
                            relationship: "02", personType: .registered, registeredAddress: nil, currentAddress: nil,
                            occupation: nil, status: .active, statusChangedAt: nil, focusGroups: [], notes: "")
        let store = model.store
        let existing = id
        let edit = opened.map { (readAt: $0.readAt, changes: changes(from: $0.person)) }
        DispatchQueue.global(qos: .userInitiated).async {
            do {
                if let existing, let edit {
                    try store.editPerson(id: existing, readAt: edit.readAt, changes: edit.changes)
                } else {
                    _ = try store.createPerson(person: person)
                }
                DispatchQueue.main.async { presentation.wrappedValue.dismiss() }
            } catch GridsyncError.InvalidInput(let field, _, _, let messageZh) {
                DispatchQueue.main.async { errors = [field: messageZh] }
            } catch GridsyncError.AlreadyExists(_, _, _, let messageZh) {
                DispatchQueue.main.async { errors = ["id_number": messageZh] }
            } catch {
                DispatchQueue.main.async { model.message = AppModel.describe(error) }
            }
        }
    }
}

struct SearchView: View {
    @EnvironmentObject var model: AppModel
    @State private var query = ""
    @State private var found: [PersonRow] = []

    var body: some View {
        List {
            TextField("search", text: $query)
                .autocapitalization(.none)
                .onChange(of: query) { text in
                    let area = String((model.area ?? "").prefix(12))
                    model.run({ try $0.searchPersons(query: text, areaPrefix: area, limit: 50) }) { found = $0 }
                }
            ForEach(found, id: \.id) { person in
                VStack(alignment: .leading) {
                    Text(person.name)
                    Text((person.idNumber.map { "…" + $0.suffix(4) + " " } ?? "") + person.birthDate).font(.caption)
                }
            }
        }
        .navigationTitle("search")
    }
}

struct IncidentList: View {
    @EnvironmentObject var model: AppModel
    @State private var title = ""
    @State private var category = "矛盾纠纷/邻里纠纷"
    /// Photos taken for the incident being reported: attached once it is saved.
    @State private var drafts: [DraftPhoto] = []

    var body: some View {
        List {
            Section(header: Text("report_incident")) {
                TextField("title", text: $title)
                TextField("category", text: $category)
                PhotoCaptureButtons { drafts.append($0) }
                DraftPhotoList(drafts: $drafts)
                Button("report_incident", action: report)
            }
            ForEach(model.incidents, id: \.id) { incident in
                NavigationLink(destination: IncidentDetail(id: incident.id)) {
                    VStack(alignment: .leading) {
                        Text(incident.title)
                        Text("\(String(describing: incident.status))\(incident.urgent ? " 加急" : "")"
                             + (incident.needsReview ? " · " + NSLocalizedString("needs_review", comment: "") : ""))
                            .font(.caption)
                    }
                }
            }
        }
        .navigationTitle("incidents")
    }

    private func report() {
        guard let area = model.area else { return }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let incident = Incident(areaCode: area, serviceNo: "" /* the store assigns SJ<date>-<8 hex> */, title: title, categories: [category],
                                location: nil, gps: nil, occurredAt: now, peopleCount: 1, involvedPersons: [],
                                involvedHouseholds: [], major: false, timeline: [], notes: "")
        let photos = drafts
        model.run({ store -> String in
            let id = try store.createIncident(incident: incident)
            _ = try store.appendFollowUp(incidentId: id, step: .report, note: "", deadline: nil, supervision: nil)
            return id
        }) { id in
            title = ""
            drafts = []
            guard !photos.isEmpty else { return }
            Task { @MainActor in model.tellRefused(await model.attach(photos, to: id)) }
        }
    }
}

/// An incident's photos, timeline and the steps its status allows now.
struct IncidentDetail: View {
    @EnvironmentObject var model: AppModel
    let id: String
    @State private var incident: Incident?
    @State private var state: IncidentState?
    @State private var steps: [Step] = []
    @State private var photos: [Photo] = []
    @State private var adding: [DraftPhoto] = []
    @State private var opened: OpenedPhoto?
    @State private var note = ""

    var body: some View {
        List {
            if let state {
                Text(String(describing: state.status))
                ForEach(state.review, id: \.entryId) { Text("needs_review \(String(describing: $0.step)) \($0.by)") }
            }
            Section(header: Text("photos")) {
                if photos.isEmpty {
                    Text("no_photos").font(.caption)
                } else {
                    ScrollView(.horizontal) {
                        HStack(spacing: 8) {
                            ForEach(photos, id: \.hash) { photo in
                                PhotoThumbnail(recordId: id, photo: photo)
                                    .onTapGesture { opened = OpenedPhoto(photo: photo) }
                            }
                        }
                    }
                }
                PhotoCaptureButtons { adding.append($0) }
                DraftPhotoList(drafts: $adding)
                if !adding.isEmpty { Button("add_photo", action: attach) }
            }
            Section(header: Text("timeline")) {
                ForEach(incident?.timeline ?? [], id: \.id) { entry in
                    Text("\(String(describing: entry.step)) · \(entry.by) \(entry.note)")
                }
            }
            Section(header: Text("next_steps")) {
                TextField("", text: $note)
                ForEach(steps.filter { $0 != .supervise }, id: \.self) { step in
                    Button(String(describing: step)) { take(step) }
                }
            }
        }
        .navigationTitle(incident?.title ?? "")
        .onAppear(perform: load)
        .sheet(item: $opened) { PhotoViewer(recordId: id, photo: $0.photo).environmentObject(model) }
    }

    private func load() {
        model.run({ store in
            (try store.getIncident(id: id), try store.incidentState(incidentId: id), try store.nextSteps(incidentId: id),
             try store.photos(recordId: id))
        }) { loaded in
            (incident, state, steps, photos) = loaded
        }
    }

    private func attach() {
        let drafts = adding
        adding = []
        Task { @MainActor in
            model.tellRefused(await model.attach(drafts, to: id))
            load()
        }
    }

    private func take(_ step: Step) {
        let text = note
        model.run({ try $0.appendFollowUp(incidentId: id, step: step, note: text, deadline: nil, supervision: nil) }) { _ in
            note = ""
            load()
        }
    }
}

/// Who changed a record and what, newest first, in China time (as the township's
/// console shows it).
struct RecordHistoryView: View {
    @EnvironmentObject var model: AppModel
    let id: String
    @State private var entries: [HistoryEntry] = []

    var body: some View {
        List(entries.reversed(), id: \.hash) { entry in
            VStack(alignment: .leading) {
                Text(Self.what(entry))
                // A phone whose clock was wrong wrote a time nobody should trust: say so.
                Text(chinaTime(at: entry.at) + (entry.timeDoubtful ? "（设备时间有误）" : "") + " · " + entry.worker)
                    .font(.caption)
            }
        }
        .navigationTitle("history")
        .onAppear { model.run({ try $0.history(id: id) }) { entries = $0 } }
    }

    /// Two phones that registered the same person offline both show 登记.
    static func what(_ entry: HistoryEntry) -> String {
        if entry.registers { return "登记" }
        if entry.fields == ["deleted"] { return "删除或恢复" }
        if entry.fields.isEmpty { return "无字段改动" }
        return "修改了" + entry.fieldsZh.joined(separator: "、")
    }
}

/// What needs the worker: this phone's changes the center refused (kept on the phone,
/// with the reason in Chinese), then records whose fields hold concurrent values: keep
/// one value per field.
struct ConflictList: View {
    @EnvironmentObject var model: AppModel
    @State private var details: [String: [Conflict]] = [:]
    @State private var refused: [QuarantinedChange] = []

    var body: some View {
        List {
            if !refused.isEmpty {
                Section(header: Text("refused_changes")) {
                    ForEach(refused, id: \.hash) { change in
                        VStack(alignment: .leading) {
                            Text(change.reasonZh)
                            Text(chinaTime(at: change.at) + " · " + String(change.recordId.prefix(8))).font(.caption)
                        }
                    }
                }
            }
            ForEach(model.conflicted, id: \.id) { row in
                Section(header: Text("\(String(describing: row.kind)) \(String(row.id.prefix(8)))")) {
                    ForEach(details[row.id] ?? [], id: \.field) { conflict in
                        Text(conflict.field).font(.headline)
                        ForEach(conflict.values, id: \.valueJson) { value in
                            HStack {
                                Text("\(value.valueJson) — \(value.worker)")
                                Spacer()
                                Button("keep_this") {
                                    model.run({ try $0.resolve(id: row.id, field: conflict.field, valueJson: value.valueJson) })
                                }
                            }
                        }
                    }
                }
                .onAppear {
                    model.run({ try $0.conflicts(id: row.id) }) { details[row.id] = $0 }
                }
            }
        }
        .navigationTitle("conflicts")
        .onAppear { model.run({ try $0.quarantined() }) { refused = $0 } }
    }
}

/// The Keychain lost the database key: the records on this phone cannot be read, and
/// nothing is opened over them. The worker confirms before the file is set aside
/// (renamed, not deleted) and the app returns to enrolment.
struct KeyLostView: View {
    let setAside: () -> Void

    var body: some View {
        VStack(alignment: .leading, spacing: 16) {
            Text("key_lost_title").font(.title2)
            Text("key_lost_body")
            Button("enrol_again", action: setAside).buttonStyle(.borderedProminent)
        }
        .padding(24)
    }
}
