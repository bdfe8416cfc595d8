"""Word lists for the generated ``clinic-triage`` task (data only, no logic).

Kept apart from :mod:`crossbound.tasks.clinic_triage` so the generator stays readable and the
vocabulary can grow without touching code. Everything here was written for this project.

Constraints the generator and its tests rely on:

* names are ASCII and are not everyday English words (no "May", "Will", "Brown", "Young"), so a
  name found in a text is a real PII occurrence and never a word of the complaint;
* complaint, detail, urgency and reply phrases contain no digits and no names, so the public
  (PII-free) split cannot contain anything that looks like a phone number, MRN or canary;
* complaint phrases of different departments do not share their key symptom, and urgency cues of
  different levels do not overlap, so labels are learnable from the text.
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

# Department -> (complaint phrase, short summary used in the reply target).
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
    ),
}

# Optional second sentence that adds department-specific colour.
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
