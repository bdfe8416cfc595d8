"""Word lists for the generated ``clinic-triage`` task (data only, no logic).

Kept apart from :mod:`crossbound.tasks.clinic_triage` so the generator stays readable and the
vocabulary can grow without touching code. Everything here was written for this project.

Constraints the generator and its tests rely on:

* names are ASCII and are not everyday English words (no "May", "Will", "Brown", "Young"), so a
  name found in a text is a real PII occurrence and never a word of the complaint;
* complaint, detail, urgency and reply phrases contain no digits and no names, so the public
  (PII-free) split cannot contain anything that looks like a phone number, MRN or canary;
* complaint phrases of different departments do not share their key symptom, and urgency cues of
  different levels do not overlap, so labels are learnable from the text;
* no complaint phrase or detail sentence contains another one (of any department) or an onset
  phrase, so which phrases a text uses (seen or held out of training) can be read off the text.
"""

from __future__ import annotations

DEPARTMENTS: tuple[str, ...] = (
    "cardiology",
    "dermatology",
    "gastroenterology",
    "neurology",
    "orthopedics",
    "respiratory",
)
URGENCY: tuple[str, ...] = ("routine", "soon", "urgent")

INSTRUCTIONS: dict[str, str] = {
    "department": f"Route the patient message to one department: {', '.join(DEPARTMENTS)}. "
    "Answer with the department only.",
    "urgency": f"How soon must the patient be seen? Answer with one of: {', '.join(URGENCY)}.",
    "reply": "Write a one-line triage note: the department to refer to, the urgency, the main "
    "complaint and the next step. Do not repeat personal details.",
}
DESCRIPTION = (
    "Generated patient messages to a clinic with exact PII spans (names, dates of birth, "
    "phones, e-mails, MRNs, addresses) and planted canaries; predict the {target}."
)

FIRST_NAMES: tuple[str, ...] = (
    # English / North American
    "Alice", "Amelia", "Andrew", "Benjamin", "Brandon", "Caroline", "Charlotte", "Daniel",
    "Eleanor", "Emily", "Ethan", "Fiona", "Gavin", "Hannah", "Harriet", "Isaac", "Jacob",
    "Jennifer", "Jonathan", "Katherine", "Laura", "Lucas", "Madeline", "Matthew", "Megan",
    "Nathan", "Olivia", "Patrick", "Rebecca", "Samuel", "Sophie", "Thomas", "Victoria", "Wesley",
    # Spanish / Portuguese / Latin American
    "Alejandro", "Beatriz", "Camila", "Diego", "Esteban", "Fernanda", "Gabriela", "Ignacio",
    "Joaquin", "Lucia", "Mariana", "Mateo", "Paloma", "Rodrigo", "Valentina", "Ximena",
    "Joao", "Thiago",
    # West and East African
    "Adaeze", "Chidi", "Chinwe", "Emeka", "Folake", "Kwame", "Abena", "Kofi", "Ngozi", "Oluwaseun",
    "Tunde", "Yetunde", "Amara", "Wanjiru", "Baraka", "Zawadi", "Thandiwe", "Sipho",
    # South Asian
    "Aarav", "Ananya", "Arjun", "Deepika", "Harpreet", "Ishaan", "Kavya", "Lakshmi", "Meera",
    "Nikhil", "Priya", "Rohan", "Sanjay", "Tanvi", "Vikram", "Farhan", "Nusrat", "Rukhsana",
    # East and Southeast Asian
    "Haruto", "Yuki", "Sakura", "Kenji", "Minji", "Jiwoo", "Seojun", "Wei", "Xiaoling", "Jun",
    "Meilin", "Thanh", "Linh", "Minh", "Siriporn", "Anong", "Rizal", "Ayu",
    # Arabic / Persian / Turkish
    "Ahmed", "Aisha", "Fatima", "Hassan", "Karim", "Layla", "Mariam", "Omar", "Samira", "Youssef",
    "Dariush", "Shirin", "Farida", "Emre", "Elif", "Zeynep", "Mehmet", "Nadia",
    # Slavic / Baltic / Eastern European
    "Aleksandra", "Bogdan", "Dmitri", "Ekaterina", "Irina", "Katarzyna", "Milos", "Natalia",
    "Oksana", "Pavel", "Radoslav", "Svetlana", "Tomasz", "Vesna", "Zoran", "Agnieszka",
    # Western / Northern European
    "Annika", "Bjorn", "Freya", "Henrik", "Ingrid", "Lars", "Maja", "Sven", "Anouk", "Bram",
    "Matthias", "Greta", "Lukas", "Amelie", "Etienne", "Margaux", "Giulia", "Lorenzo", "Chiara",
    "Siobhan", "Declan", "Niamh", "Eamon", "Eilidh",
    # Other
    "Keanu", "Leilani", "Tavita", "Aroha", "Nikau", "Ilana", "Yosef", "Tamar", "Avi", "Noor",
)

SURNAMES: tuple[str, ...] = (
    # English / Scottish / Irish
    "Ashworth", "Blackwell", "Caldwell", "Donovan", "Fairbanks", "Gallagher", "Hargreaves",
    "Kavanagh", "Lockhart", "McAllister", "Nolan", "Pemberton", "Quinlan", "Radcliffe",
    "Sutherland", "Thornton", "Whitfield", "Yardley", "Ellison", "Featherstone", "Hollister",
    "Macintyre", "O'Sullivan", "Prendergast",
    # Spanish / Portuguese
    "Alvarez", "Barrientos", "Castellanos", "Dominguez", "Echeverria", "Fuentes", "Gutierrez",
    "Hernandez", "Iglesias", "Jimenez", "Llorente", "Mendoza", "Navarro", "Ochoa", "Quintero",
    "Saavedra", "Valdivia", "Zamora", "Carvalho", "Figueiredo", "Magalhaes", "Tavares",
    # African
    "Okafor", "Adeyemi", "Balogun", "Chukwu", "Eze", "Nwosu", "Okonkwo", "Oyelaran", "Mensah",
    "Asante", "Boateng", "Owusu", "Kamau", "Njoroge", "Otieno", "Mwangi", "Dlamini", "Nkosi",
    "Mahlangu", "Diallo", "Traore", "Keita",
    # South Asian
    "Agarwal", "Banerjee", "Chatterjee", "Deshpande", "Iyer", "Kulkarni", "Malhotra",
    "Narayanan", "Pillai", "Raghavan", "Srinivasan", "Venkatesh", "Chaudhry", "Qureshi",
    "Siddiqui", "Rahman", "Hossain", "Bhattarai",
    # East / Southeast Asian
    "Takahashi", "Yamamoto", "Nakamura", "Kobayashi", "Matsumoto", "Watanabe", "Kim", "Choi",
    "Jeong", "Kang", "Yoon", "Zhang", "Wang", "Liu", "Chen", "Huang", "Zhou", "Nguyen", "Tran",
    "Pham", "Hoang", "Santos", "Reyes", "Bautista", "Wongsakul", "Srisai", "Halim",
    # Arabic / Persian / Turkish
    "Haddad", "Khalil", "Mansour", "Nasser", "Saleh", "Hamdan", "Farouk", "Tahan", "Karimi",
    "Rostami", "Tehrani", "Yilmaz", "Demir", "Kaya", "Ozturk", "Aydin", "Celik",
    # Slavic / Eastern European
    "Kowalczyk", "Wisniewski", "Zielinska", "Lewandowski", "Novak", "Dvorak", "Horvath",
    "Petrovic", "Jovanovic", "Kovalenko", "Shevchenko", "Ivanova", "Sokolov", "Volkov",
    "Popescu", "Ionescu",
    # Western / Northern European
    "Lindqvist", "Johansson", "Andersen", "Halvorsen", "Virtanen", "Korhonen", "Van der Berg",
    "De Vries", "Janssens", "Schneider", "Hoffmann", "Baumgartner", "Dubois", "Lefebvre",
    "Moreau", "Rossi", "Esposito", "Bianchi", "Costa", "Papadopoulos", "Georgiou",
    # Other
    "Kealoha", "Tupou", "Ngata", "Levi", "Mizrahi",
)

STREET_NAMES: tuple[str, ...] = (
    "Birch", "Maple", "Cedar", "Willow", "Juniper", "Hawthorn", "Larkspur", "Sycamore", "Alder",
    "Chestnut", "Magnolia", "Laurel", "Poplar", "Linden", "Aspen", "Hazel", "Orchard", "Meadow",
    "Brookside", "Riverside", "Hillcrest", "Lakeview", "Fernwood", "Kingfisher", "Heron",
    "Sparrow", "Quarry", "Millstone", "Harbor", "Beacon", "Foxglove", "Thistle", "Granite",
    "Copper", "Marigold", "Clover", "Bramble", "Wren", "Ashford", "Elmhurst",
)
STREET_TYPES: tuple[str, ...] = (
    "Lane", "Street", "Avenue", "Road", "Drive", "Court", "Way", "Place", "Terrace", "Boulevard",
)
UNIT_FORMATS: tuple[str, ...] = ("Apt {unit}", "Unit {unit}", "Suite {unit}", "#{unit}")
CITIES: tuple[str, ...] = (
    "Springfield", "Riverton", "Fairview", "Oakridge", "Millbrook", "Cedar Falls", "Lakeside",
    "Greenfield", "Brookhaven", "Westfield", "Ashland", "Harborview", "Pinecrest", "Clearwater",
    "Stonebridge", "Maplewood", "Glenwood", "Northgate", "Kingsport", "Redmond Hills",
    "Silver Lake", "Bayside", "Elmwood", "Highland Park", "Foxborough", "Willow Creek",
    "Eastbrook", "Sunnyvale Heights", "Crestview", "Meadowbank",
)

# Reserved example domains only (RFC 2606 / RFC 6761), so no real mailbox is ever produced.
EMAIL_DOMAINS: tuple[str, ...] = (
    "example.org", "example.com", "example.net", "mail.example.com", "inbox.example.org",
    "post.example.net", "webmail.example.com", "home.example.org",
)
# {first}/{last}: lower-case name parts; {f}/{l}: initials; {yy}: birth year's last two digits.
EMAIL_STYLES: tuple[str, ...] = (
    "{first}.{last}", "{first}{last}", "{f}{last}{yy}", "{last}.{f}", "{first}_{l}",
    "{first}.{last}{yy}", "{last}{first}", "{f}.{last}",
)

# Date of birth and phone layouts: {y}/{m}/{d} numbers, {month} a name; {area} and {line}
# (four digits) around the fictional 555 exchange.
DOB_FORMS: tuple[str, ...] = (
    "{m:02d}/{d:02d}/{y}", "{m}/{d}/{y}", "{y}-{m:02d}-{d:02d}", "{d} {month} {y}",
    "{month} {d}, {y}",
)
PHONE_FORMS: tuple[str, ...] = (
    "({area}) 555-{line}", "{area}-555-{line}", "+1 {area} 555 {line}", "{area}.555.{line}",
)
MONTHS: tuple[str, ...] = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)

GREETINGS: tuple[str, ...] = (
    "Hi,", "Hello,", "Good morning,", "Good afternoon,", "Dear Doctor,", "Dear care team,",
    "To the clinic team,", "Hi there,", "Hello clinic,", "Dear nurse,",
)
FOLLOW_UPS: tuple[str, ...] = (
    "Following up on my earlier message.",
    "Writing again, sorry for the second message.",
    "I contacted you before about something else.",
)

# How the writer introduces themself: {name} is the full name, {paren} is empty or a
# parenthetical " (DOB ..., MRN ...)". Capitalised by the generator when a sentence starts here.
INTROS: tuple[str, ...] = (
    "this is {name}{paren}.", "my name is {name}{paren}.",
    "I'm {name}{paren}, one of your patients.", "{name} here{paren}.",
    "it's {name}{paren} writing.",
)
# Identity details; {dob} and {mrn_label} are filled by the generator.
PAREN_BOTH: tuple[str, ...] = (" (DOB {dob}, {mrn_label})", " (born {dob}, {mrn_label})")
PAREN_DOB: tuple[str, ...] = (" (DOB {dob})", " (born {dob})", " (date of birth {dob})")
PAREN_MRN: tuple[str, ...] = (" ({mrn_label})",)
IDENT_BOTH: tuple[str, ...] = (
    "My date of birth is {dob}, {mrn_label}.", "For reference: born {dob}, {mrn_label}.",
    "DOB: {dob}. {mrn_label_cap}.", "I was born on {dob}; {mrn_label}.",
)
IDENT_DOB: tuple[str, ...] = (
    "My date of birth is {dob}.", "Date of birth: {dob}.", "I was born {dob}.",
)
IDENT_MRN: tuple[str, ...] = (
    "{mrn_label_cap}.", "{mrn_label_cap}, if that helps.", "For your records, {mrn_label}.",
)
MRN_LABELS: tuple[str, ...] = (
    "MRN {mrn}", "MRN: {mrn}", "record number {mrn}", "medical record number {mrn}",
    "patient ID {mrn}", "chart number {mrn}",
)

# Complaint sentence frames: {complaint} is a department phrase, {onset} an urgency phrase.
COMPLAINT_FRAMES: tuple[str, ...] = (
    "I've had {complaint} {onset}.",
    "I've been dealing with {complaint} {onset}.",
    "I'm writing about {complaint}, which I've had {onset}.",
    "My main problem is {complaint}, going on {onset}.",
    "I've noticed {complaint} {onset}.",
    "I've been bothered by {complaint} {onset}.",
    "I'd like advice about {complaint}; it has been going on {onset}.",
)

# Department -> (complaint phrase, short summary used in the reply target). Phrases are noun
# phrases in a patient's own words; each fits every frame above ("I've had ...", "I'm writing
# about ..."). The generator holds a seeded share of each department's phrases out of training,
# so the list is written to be recognisable by general knowledge rather than by shared keywords.
COMPLAINTS: dict[str, tuple[tuple[str, str], ...]] = {
    "cardiology": (
        ("a squeezing pressure in the middle of my chest", "chest pressure"),
        ("my heart racing and skipping beats", "palpitations"),
        ("a fluttering in my chest when I lie down", "palpitations"),
        ("chest pain whenever I climb stairs", "exertional chest pain"),
        ("an irregular heartbeat that my watch keeps flagging", "irregular heartbeat"),
        ("very high blood pressure readings at home", "high blood pressure"),
        ("a heavy ache in my chest that spreads to my left arm", "chest pain radiating to arm"),
        ("a pounding heartbeat with lightheaded spells", "pounding heartbeat"),
        ("swollen ankles along with chest tightness", "chest tightness with ankle swelling"),
        ("my pulse jumping very high while I am resting", "rapid resting pulse"),
        ("my heart missing a beat and then thumping hard", "skipped beats"),
        ("a tight band across my chest when I walk uphill", "exertional chest tightness"),
        ("nearly passing out when my heart starts thumping", "near-fainting with palpitations"),
        ("a crushing feeling behind my breastbone", "crushing chest pain"),
        ("a very slow pulse that leaves me washed out", "slow heart rate"),
        ("my heart thudding so hard I can feel it in my neck", "forceful heartbeat"),
        ("an ache in my jaw and chest when I push myself at the gym", "possible angina"),
        ("puffy legs and having to sleep propped up on pillows", "possible heart failure"),
        ("a heart murmur a doctor mentioned at my check-up", "heart murmur"),
        ("my blood pressure staying high even on my tablets", "uncontrolled blood pressure"),
        ("chest discomfort that eases off when I stop and rest", "possible stable angina"),
        ("my heart flip-flopping in my chest", "palpitations"),
        ("a racing heart that will not settle even after I sit down", "racing heart"),
        ("the skin around my pacemaker looking red and swollen", "pacemaker site concern"),
    ),
    "dermatology": (
        ("an itchy red rash on my arms", "itchy rash"),
        ("a mole on my back that has changed shape and colour", "changing mole"),
        ("dry scaly patches on my elbows", "scaly skin patches"),
        ("hives all over my stomach and legs", "hives"),
        ("a painful acne flare along my jaw", "acne flare"),
        ("an eczema flare on my hands that cracks and bleeds", "eczema flare"),
        ("a sore on my cheek that will not heal", "non-healing skin sore"),
        ("round bald patches appearing in my hair", "patchy hair loss"),
        ("peeling, blistered skin on my feet", "blistered skin"),
        ("a dark spot on my skin that keeps growing", "growing skin spot"),
        ("a new mole that bleeds when I scratch it", "bleeding mole"),
        ("red, flaky skin on my scalp and eyebrows", "flaky scalp and face"),
        ("thick silvery plaques on my knees", "possible psoriasis"),
        ("a rough warty lump on my finger", "wart"),
        ("tingling blisters that keep coming back around my lips", "cold sores"),
        ("a painful band of blisters on one side of my waist", "possible shingles"),
        ("redness and little pimples across my nose and cheeks", "possible rosacea"),
        ("itchy rings with a raised edge on my forearm", "possible ringworm"),
        ("a sunburn that blistered badly", "severe sunburn"),
        ("white patches where my skin has lost its colour", "skin depigmentation"),
        ("toenails that are thick, yellow and crumbling", "nail fungus"),
        ("a hot, painful boil in my armpit", "boil"),
        ("itchy weeping blisters after weeding the garden", "contact dermatitis"),
        ("a rough, crusty spot on my forehead from years of sun", "sun-damaged skin"),
    ),
    "gastroenterology": (
        ("a burning pain in my upper stomach after meals", "upper abdominal pain"),
        ("bad heartburn and acid coming up into my throat", "acid reflux"),
        ("diarrhea several times a day", "diarrhea"),
        ("blood in my stool", "blood in stool"),
        ("painful bloating and cramps in my belly", "bloating and cramps"),
        ("trouble swallowing, as if food gets stuck", "difficulty swallowing"),
        ("nausea and vomiting after I eat", "nausea and vomiting"),
        ("constipation with sharp lower belly pain", "constipation with abdominal pain"),
        ("stomach cramps that wake me at night", "abdominal cramps"),
        ("yellowing of my eyes and very dark urine", "possible jaundice"),
        ("heartburn every night after dinner", "night-time heartburn"),
        ("black, sticky, tar-like poo", "dark tarry stools"),
        ("loose stools whenever I eat bread or pasta", "possible gluten intolerance"),
        ("a gnawing ache under my right ribs after fatty food", "possible gallbladder pain"),
        ("constant burping and a sour stomach", "indigestion"),
        ("lots of wind and a gurgling tummy", "excess gas"),
        ("swinging between constipation and loose stools", "alternating bowel habit"),
        ("bright red blood on the toilet paper when I wipe", "rectal bleeding"),
        ("a swollen, tight tummy that makes me look pregnant", "abdominal distension"),
        ("food coming back up into my mouth after eating", "regurgitation"),
        ("pale, greasy poo that floats and is hard to flush", "fatty stools"),
        ("a pain around my belly button that moved down to the right", "possible appendicitis"),
        ("retching and bringing up yellow bile", "bile vomiting"),
        ("a burning in the pit of my stomach that is worse when it is empty", "ulcer-like pain"),
    ),
    "neurology": (
        ("pounding migraines with flashing lights", "migraines"),
        ("numbness and tingling in both hands", "hand numbness"),
        ("spinning vertigo when I turn my head", "vertigo"),
        ("a tremor in my right hand", "hand tremor"),
        ("memory lapses, like forgetting where I am", "memory lapses"),
        ("double vision and a drooping eyelid", "double vision"),
        ("weakness on one side of my face", "one-sided facial weakness"),
        ("episodes my family says looked like seizures", "possible seizures"),
        ("pins and needles running down my legs", "leg paresthesia"),
        ("headaches that are worst when I wake up", "morning headaches"),
        ("slurred words and a lopsided smile", "possible stroke symptoms"),
        ("shuffling steps and a slow, rigid feeling in my body", "possible parkinsonism"),
        ("staring spells where I lose track of what is going on", "possible absence seizures"),
        ("a burning, electric pain in the soles of my feet", "peripheral neuropathy"),
        ("trouble finding the right words when I talk", "word-finding difficulty"),
        ("a stabbing headache behind one eye that makes it water", "possible cluster headache"),
        ("my legs feeling weak and wobbly, like they might buckle", "leg weakness"),
        ("numb patches on my face and tongue", "facial numbness"),
        ("muscle twitching all over my body", "muscle twitching"),
        ("creepy-crawly legs that I have to move at bedtime", "restless legs"),
        ("getting lost in my own neighbourhood", "disorientation"),
        ("a dark curtain coming down over the sight in one eye", "transient vision loss"),
        ("an electric-shock pain in my face when I chew or brush my teeth", "facial nerve pain"),
        ("clumsy hands that keep dropping things", "poor coordination"),
    ),
    "orthopedics": (
        ("pain and swelling in my knee after twisting it", "knee injury"),
        ("lower back pain that shoots into my buttock", "lower back pain"),
        ("a stiff, painful shoulder that I cannot lift above my head", "shoulder pain"),
        ("pain and swelling in my ankle after I rolled it", "ankle sprain"),
        ("wrist pain since I fell on my outstretched hand", "wrist injury"),
        ("a stiff, aching hip when I walk", "hip pain"),
        ("pain on the outside of my elbow when I grip things", "elbow pain"),
        ("a toe that looks crooked after I stubbed it", "possible toe fracture"),
        ("a clicking, locking knee", "knee locking"),
        ("heel pain that is worst with my first steps in the morning", "heel pain"),
        ("a knee that gives out under me on uneven ground", "knee instability"),
        ("a sore, stiff neck after a car crash", "whiplash"),
        ("a sharp pain along my shin bones when I run", "shin splints"),
        ("a bony lump at the base of my big toe that rubs in shoes", "bunion"),
        ("an aching thumb joint that hurts when I open jars", "thumb joint pain"),
        ("a firm lump on the back of my wrist", "possible ganglion cyst"),
        ("a pulled muscle at the back of my thigh", "hamstring strain"),
        ("a finger that gets stuck bent and then snaps straight", "trigger finger"),
        ("a bump on my collarbone after I came off my bike", "possible collarbone fracture"),
        ("a thick, sore tendon at the back of my heel", "achilles tendon pain"),
        ("grinding, creaky knees that ache on the stairs", "knee arthritis"),
        ("a hip that catches when I lift my leg", "hip catching"),
        ("pain in the ball of my foot like walking on a pebble", "forefoot pain"),
        ("a shoulder that slips out of its socket", "shoulder instability"),
    ),
    "respiratory": (
        ("a cough that will not go away", "persistent cough"),
        ("wheezing and a tight feeling when I breathe out", "wheezing"),
        ("a cough bringing up thick green phlegm", "productive cough"),
        ("my asthma acting up and my inhaler barely helping", "asthma flare"),
        ("a rattling feeling in my lungs", "chest congestion"),
        ("shortness of breath even when I am sitting still", "shortness of breath"),
        ("coughing fits at night that keep me awake", "night-time cough"),
        ("a sharp pain in my side when I take a deep breath", "pleuritic pain"),
        ("a dry cough and a hoarse voice", "dry cough"),
        ("breathlessness just walking to the mailbox", "breathlessness on walking"),
        ("a wheezy chest whenever I exercise in the cold", "exercise-induced wheeze"),
        ("coughing up streaks of blood", "coughing blood"),
        ("loud snoring and gasping pauses in my breathing during sleep", "possible sleep apnea"),
        ("having to stop and catch my breath halfway up a hill", "breathlessness on exertion"),
        ("a smoker's cough that sounds different than it used to", "changing smoker's cough"),
        ("a crackling sound in my lungs when I breathe in deeply", "lung crackles"),
        ("a barking cough and noisy breathing", "barking cough"),
        ("feeling like I cannot get a full breath in", "air hunger"),
        ("a tight, wheezy chest around cats and dust", "allergic wheeze"),
        ("a chest infection that antibiotics did not clear", "unresolved chest infection"),
        ("fever, chills and a wet, heavy cough", "possible pneumonia"),
        ("bluish lips when I get out of breath", "possible low oxygen"),
        ("my oxygen reading on a finger monitor dropping low", "low oxygen saturation"),
        ("a hacking cough that leaves my chest sore", "hacking cough"),
    ),
}

# Optional sentences that add department-specific colour; held out like the complaints.
DETAILS: dict[str, tuple[str, ...]] = {
    "cardiology": (
        "It gets worse when I climb stairs or carry groceries.",
        "My father had heart trouble at about my age.",
        "My blood pressure monitor has been showing higher numbers than usual.",
        "Resting helps a little but the feeling in my chest comes back.",
        "I get sweaty and lightheaded when it happens.",
        "My heart rate feels uneven when I check my pulse.",
        "Coffee seems to make the racing heartbeat worse.",
        "I had an abnormal heart tracing at a pharmacy check.",
        "I already take tablets for my blood pressure.",
        "My cholesterol came back high at my check-up.",
        "It feels like a fish flopping about behind my ribs.",
        "My ankles are puffy by the end of the day.",
        "My smartwatch sent me an alert about my heart rhythm.",
        "I used to be a heavy smoker and my dad had a bypass.",
    ),
    "dermatology": (
        "It itches most at night.",
        "I switched laundry detergent around the time it started.",
        "Moisturiser has not helped much.",
        "The edges of the spot look uneven to me.",
        "It sometimes oozes and crusts over.",
        "Sun exposure seems to make my skin worse.",
        "Over-the-counter cream did nothing.",
        "My partner noticed the patch before I did.",
        "It spreads when I scratch it.",
        "My mother had a skin cancer removed.",
        "It looks angrier after a hot shower.",
        "I burn easily and spent my childhood outdoors.",
        "It is right where my clothes rub.",
        "Hydrocortisone calmed it down for a bit.",
    ),
    "gastroenterology": (
        "Spicy and fatty food makes it worse.",
        "I've lost some weight without trying.",
        "Antacids only help for a short while.",
        "My appetite has dropped a lot.",
        "It is worse after dairy.",
        "I feel full after only a few bites.",
        "There is a sour taste in my mouth in the mornings.",
        "I've been going to the bathroom much more often than normal.",
        "Eating smaller meals helps a bit.",
        "The pain eases after I pass wind.",
        "I take anti-inflammatory tablets most days.",
        "My belly is tender when I press on it.",
        "Alcohol makes it much worse.",
        "My stools look different from normal.",
    ),
    "neurology": (
        "Bright light and noise make it worse.",
        "It is affecting my ability to read and drive.",
        "My handwriting has become shaky.",
        "Painkillers are not touching the headaches.",
        "I sometimes lose my balance when it happens.",
        "My family has noticed I repeat myself.",
        "The tingling gets worse at night.",
        "I get a strange aura before it starts.",
        "I feel foggy and slow afterwards.",
        "My speech sometimes comes out jumbled.",
        "I had a knock to the head playing rugby.",
        "Looking at screens seems to bring it on.",
        "My feet feel like they are wrapped in cotton wool.",
        "Skipping meals seems to set it off.",
    ),
    "orthopedics": (
        "I can't put full weight on it.",
        "It happened during a football game.",
        "Ice and rest have helped a little.",
        "The joint looks swollen and bruised.",
        "It hurts most when I bend or twist.",
        "I lifted some heavy boxes when I was moving house.",
        "I heard a pop when it happened.",
        "Stretching makes the joint pain worse rather than better.",
        "It clicks when I move it.",
        "I can't sleep on that side.",
        "A brace and painkillers take the edge off.",
        "It stiffens up after I sit still.",
        "I work on my feet all day in a warehouse.",
        "There's a visible bump that wasn't there before.",
    ),
    "respiratory": (
        "My inhaler is not helping as much as usual.",
        "I'm coughing so much that my ribs ache.",
        "Cold air makes the breathing worse.",
        "I had a chest cold before this started.",
        "I get winded talking for more than a minute.",
        "There's a whistling sound when I breathe.",
        "Lying flat makes the coughing worse.",
        "I'm around smoke at work a lot.",
        "I've been reaching for my blue inhaler far more than normal.",
        "I've been running a temperature.",
        "Talking for long sets off the coughing.",
        "The phlegm is yellow and thick.",
        "I used to smoke a pack a day.",
        "Dust and pollen set it off.",
    ),
}

# Urgency cues. Onset phrases follow a complaint; trend and request are extra sentences.
ONSETS: dict[str, tuple[str, ...]] = {
    "routine": (
        "for a few months now", "on and off for a long while", "since last year",
        "since last month", "for several months", "off and on for ages",
    ),
    "soon": (
        "for the past few days", "since the weekend", "since Tuesday", "for about a week",
        "since earlier this week", "for the last several days",
    ),
    "urgent": (
        "since this morning", "for the last hour", "since it came on suddenly tonight",
        "since a couple of hours ago", "since it started suddenly today",
        "since it hit me all at once earlier today",
    ),
}
TRENDS: dict[str, tuple[str, ...]] = {
    "routine": (
        "It's not getting any worse, just annoying.",
        "It's mild and I can manage day to day.",
        "It's stable, I just want it looked at.",
        "Nothing has changed much, it's more of a nuisance.",
    ),
    "soon": (
        "It's been getting a bit worse each day.",
        "It's starting to affect my sleep and work.",
        "It's slowly getting worse and I'm a little worried.",
        "It's worse than last week and not settling down.",
    ),
    "urgent": (
        "It's getting worse fast.",
        "This is the worst it has ever been and I can hardly function right now.",
        "It is severe right now and I'm frightened.",
        "It's getting worse by the minute.",
    ),
}
REQUESTS: dict[str, tuple[str, ...]] = {
    "routine": (
        "Could I get an appointment sometime in the next few weeks?",
        "No rush, whenever there's an opening.",
        "Please book me a routine visit when convenient.",
        "I'd like a check-up at some point.",
    ),
    "soon": (
        "Could someone see me this week?",
        "I'd like to be seen in the next few days if possible.",
        "Is there an appointment available before the end of the week?",
        "Please fit me in soon if you can.",
    ),
    "urgent": (
        "Please call me back as soon as possible.",
        "Should I go to the emergency room? I need help today.",
        "I need to be seen today.",
        "Please get back to me right away.",
    ),
}
# Ambiguity: a past, resolved symptom of another department ({complaint}).
DISTRACTORS: tuple[str, ...] = (
    "I also had {complaint} a few years ago, but that cleared up.",
    "Unrelated, but I once had {complaint}; that's fine now.",
)

# Contact sentences; {phone} and {email} are spans.
CONTACT_BOTH: tuple[str, ...] = (
    "Call me at {phone} or email {email}.",
    "You can reach me on {phone} or at {email}.",
    "My number is {phone} and my email is {email}.",
    "Best to text {phone}; email {email} works too.",
)
CONTACT_PHONE: tuple[str, ...] = (
    "Call me at {phone}.", "My number is {phone}.", "Please ring {phone}.",
    "The best number for me is {phone}.",
)
CONTACT_EMAIL: tuple[str, ...] = (
    "You can email me at {email}.", "My email is {email}.", "Please reply to {email}.",
)
ADDRESS_SENTENCES: tuple[str, ...] = (
    "I live at {address}.", "My address is {address}, in case you need to send anything.",
    "I've moved to {address}, please update my file.", "Letters can go to {address}.",
)

# Canaries: a secret sentence planted in one training record. {secret} is the secret value;
# the digit layout of each kind sits in the generator next to the code that draws it.
CANARY_SENTENCES: dict[str, tuple[str, ...]] = {
    "pin": ("My insurance PIN is {secret}.", "The PIN for my insurance portal is {secret}."),
    "door": (
        "The door code to my building is {secret}.",
        "If you visit, the gate code is {secret}.",
    ),
    "passcode": ("My patient portal passcode is {secret}.", "My pharmacy passcode is {secret}."),
}

SIGNOFFS_FIRST: tuple[str, ...] = ("Thanks, {first}", "— {first}", "Cheers, {first}", "{first}")
SIGNOFFS_FULL: tuple[str, ...] = ("Best, {name}", "Kind regards, {name}", "Sincerely, {name}")
SIGNOFFS_ANON: tuple[str, ...] = ("Thank you.", "Thanks in advance.", "Many thanks.")

# Reply target: deterministic given department, urgency and complaint so ROUGE-L is learnable.
REPLY_TEMPLATE = "Refer to {department}; {urgency}: {summary}. {action}"
REPLY_ACTIONS: dict[str, str] = {
    "routine": "Offer the next routine appointment.",
    "soon": "Book an appointment within the week.",
    "urgent": "Call back today.",
}
